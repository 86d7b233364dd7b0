"""Identity resolution: every identifier a customer shows up with leads to one customer.

A customer's company id, email (stored only as a keyed hash), social handle
and CRM ids are *identities*. An item whose identities are unknown creates a
customer; one whose identities point at two customers merges them (the
customer seen first survives), and the merge is recorded so it can be undone.
Items with no identity at all (an anonymous review) get no customer but still
count for their stage.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable
from datetime import datetime

from services.journey.identity.repository import Identity, IdentityRepository
from services.journey.models import Customer, CustomerMerge
from shared.contracts import CustomerRef, utcnow
from shared.http import NotFound, ServiceError

log = logging.getLogger(__name__)

MAX_CHAIN = 50


def email_hash(email: str, key: bytes) -> str:
    """The keyed hash an email is stored as (HMAC-SHA256 of the lower-cased address)."""
    return hmac.new(key, email.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


def identities_of(ref: CustomerRef, *, email_key: bytes) -> list[Identity]:
    """A customer reference's identities, strongest first."""
    out: list[Identity] = []
    if ref.id:
        out.append(("id", ref.id))
    if ref.email:
        out.append(("email", email_hash(ref.email, email_key)))
    if ref.handle:
        out.append(("handle", ref.handle.strip().lower()))
    return out


def customer_id_for(identity: Identity) -> str:
    """A deterministic customer id from the identity that created it (a rebuild gets the same ids)."""
    return "cu_" + hashlib.sha256(f"{identity[0]}:{identity[1]}".encode()).hexdigest()[:16]


class IdentityResolver:
    """Resolves references to customer ids within one transaction (with a small cache for the batch)."""

    def __init__(self, repo: IdentityRepository, *, email_key: bytes) -> None:
        self.repo = repo
        self.email_key = email_key
        self._cache: dict[Identity, str] = {}
        self._customers: dict[str, Customer] = {}
        self._absent: set[Identity] = set()
        self.merged: list[tuple[str, str]] = []
        """(survivor, merged) pairs this resolver made, so callers can refresh the survivors."""

    def prefetch(self, refs: Iterable[CustomerRef]) -> None:
        """Look up every identity of a batch at once (and their customers), so ``resolve`` rarely queries."""
        identities = {i for ref in refs for i in identities_of(ref, email_key=self.email_key)} - set(self._cache)
        if not identities:
            return
        with self.repo.session.no_autoflush:
            found = self.repo.owners(identities)
            self._cache.update(found)
            self._absent.update(identities - set(found))
            wanted = set(found.values()) - set(self._customers)
            while wanted:
                rows = self.repo.customers(wanted)
                self._customers.update({c.id: c for c in rows})
                wanted = {c.merged_into for c in rows if c.merged_into} - set(self._customers)

    def customer(self, customer_id: str) -> Customer | None:
        """A customer row, from this batch's cache or the store."""
        found = self._customers.get(customer_id)
        if found is None:
            with self.repo.session.no_autoflush:
                found = self.repo.customer(customer_id)
            if found is not None:
                self._customers[customer_id] = found
        return found

    def root(self, customer_id: str) -> str:
        """The customer a (possibly merged) customer now belongs to."""
        current = customer_id
        for _ in range(MAX_CHAIN):
            customer = self.customer(current)
            if customer is None or customer.merged_into is None:
                return current
            current = customer.merged_into
        raise RuntimeError(f"merge chain from {customer_id} is longer than {MAX_CHAIN}")

    def resolve(self, ref: CustomerRef, *, at: datetime) -> str | None:
        """The customer behind ``ref`` (created or merged as needed); None when ``ref`` names nobody."""
        identities = identities_of(ref, email_key=self.email_key)
        if not identities:
            return None
        known = {i: self._cache[i] for i in identities if i in self._cache}
        unknown = [i for i in identities if i not in known and i not in self._absent]
        if unknown:
            with self.repo.session.no_autoflush:  # identities added in this batch are in the cache
                known.update(self.repo.owners(unknown))
        roots = sorted({self.root(c) for c in known.values()})
        if not roots:
            customer_id = customer_id_for(identities[0])
            created = Customer(id=customer_id, display_name=ref.id or ref.handle, first_seen_at=at, state="stable",
                               health=60, reasons=[], touchpoints=0)
            self.repo.add_customer(created)
            self._customers[customer_id] = created
            survivor = customer_id
        else:
            survivor = self._survivor(roots)
            for other in roots:
                if other != survivor:
                    self._merge(survivor, other, reason=f"shared identity seen at {at.isoformat()}")
        new = [i for i in identities if i not in known]
        if new:
            self.repo.add_identities(survivor, new)
            self._absent.difference_update(new)
        for identity in identities:
            self._cache[identity] = survivor
        customer = self.customer(survivor)
        if customer is not None and at < customer.first_seen_at:
            customer.first_seen_at = at
        if customer is not None and customer.display_name is None and (ref.id or ref.handle):
            customer.display_name = ref.id or ref.handle
        return survivor

    def _survivor(self, roots: list[str]) -> str:
        customers = [c for c in (self.customer(r) for r in roots) if c is not None]
        return min(customers, key=lambda c: (c.first_seen_at, c.id)).id

    def _merge(self, survivor: str, merged: str, *, reason: str) -> None:
        self.repo.session.flush()  # identities staged in this batch must be moved too
        moved = self.repo.identities_of(merged)
        self.repo.repoint(moved, survivor)
        customer = self.customer(merged)
        if customer is not None:
            customer.merged_into = survivor
        self.repo.add_merge(CustomerMerge(
            survivor_id=survivor, merged_id=merged, identities=[list(i) for i in moved], reason=reason,
            merged_at=utcnow(),
        ))
        self._cache.update(dict.fromkeys(moved, survivor))
        self.merged.append((survivor, merged))
        log.info("customers merged", extra={"survivor": survivor, "merged": merged, "identities": len(moved)})


def undo_merge(repo: IdentityRepository, merge_id: int) -> tuple[str, str]:
    """Split a merged customer off again; returns (survivor, restored). Raises NotFound / ServiceError."""
    merge = repo.merge(merge_id)
    if merge is None:
        raise NotFound(f"no merge {merge_id}")
    if merge.undone_at is not None:
        raise ServiceError(f"merge {merge_id} was already undone", code="merge_already_undone", status_code=409)
    restored = repo.customer(merge.merged_id)
    if restored is None:
        raise NotFound(f"customer {merge.merged_id} no longer exists")
    repo.repoint([(k, v) for k, v in merge.identities], merge.merged_id)
    restored.merged_into = None
    merge.undone_at = utcnow()
    return merge.survivor_id, merge.merged_id
