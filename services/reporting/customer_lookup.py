"""Finding customers by what a user knows about them: our id, their company id, email or handle."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.journey.identity.repository import IdentityRepository
from services.journey.identity.service import email_hash


def customer_ids_for(session: Session, needle: str, *, identity_key: bytes) -> list[str]:
    """Customer ids (with those merged into them) matching a customer id (cu_…), company id, email or handle."""
    repo = IdentityRepository(session)
    if needle.startswith("cu_"):
        roots = [needle]
    else:
        candidates = [("id", needle), ("handle", needle.lower())]
        if "@" in needle and not needle.startswith("@"):
            candidates.append(("email", email_hash(needle, identity_key)))
        roots = list(dict.fromkeys(repo.owners(candidates).values()))
    return list(dict.fromkeys(member for root in roots for member in repo.members(root)))
