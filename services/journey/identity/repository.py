"""SQL of customers' identities and merges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.journey.models import Customer, CustomerIdentity, CustomerMerge

Identity = tuple[str, str]


class IdentityRepository:
    """Reads and writes identities, customers and merges inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def owners(self, identities: Iterable[Identity]) -> dict[Identity, str]:
        """The customer id each known identity points to."""
        wanted = list(set(identities))
        if not wanted:
            return {}
        found: dict[Identity, str] = {}
        by_kind: dict[str, list[str]] = {}
        for kind, value in wanted:
            by_kind.setdefault(kind, []).append(value)
        for kind, values in by_kind.items():
            rows = self.session.execute(
                select(CustomerIdentity.value, CustomerIdentity.customer_id).where(
                    CustomerIdentity.kind == kind, CustomerIdentity.value.in_(values)
                )
            )
            found.update({(kind, v): c for v, c in rows})
        return found

    def customers(self, ids: Iterable[str]) -> Sequence[Customer]:
        """These customer rows."""
        return self.session.scalars(select(Customer).where(Customer.id.in_(list(ids)))).all()

    def customer(self, customer_id: str) -> Customer | None:
        """One customer row."""
        return self.session.get(Customer, customer_id)

    def add_customer(self, customer: Customer) -> None:
        """Stage a new customer."""
        self.session.add(customer)

    def add_identities(self, customer_id: str, identities: Iterable[Identity]) -> None:
        """Point new identities at a customer."""
        self.session.add_all(CustomerIdentity(kind=k, value=v, customer_id=customer_id) for k, v in identities)

    def identities_of(self, customer_id: str) -> list[Identity]:
        """Every identity pointing at a customer."""
        rows = self.session.execute(
            select(CustomerIdentity.kind, CustomerIdentity.value).where(CustomerIdentity.customer_id == customer_id)
        )
        return [(k, v) for k, v in rows]

    def repoint(self, identities: Sequence[Identity], customer_id: str) -> None:
        """Move identities to another customer."""
        for kind, value in identities:
            self.session.execute(
                update(CustomerIdentity)
                .where(CustomerIdentity.kind == kind, CustomerIdentity.value == value)
                .values(customer_id=customer_id)
            )

    def members(self, root_id: str) -> list[str]:
        """The customer and every customer merged into it (following chains)."""
        members = [root_id]
        frontier = [root_id]
        while frontier:
            children = list(self.session.scalars(select(Customer.id).where(Customer.merged_into.in_(frontier))))
            members.extend(children)
            frontier = children
        return members

    def add_merge(self, merge: CustomerMerge) -> None:
        """Record a merge."""
        self.session.add(merge)
        self.session.flush()

    def merge(self, merge_id: int) -> CustomerMerge | None:
        """One merge record."""
        return self.session.get(CustomerMerge, merge_id)
