"""API keys with scopes: created and revoked by the CLI, stored only as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.reporting.models import ApiKey
from shared.contracts import utcnow
from shared.http import NotFound, ServiceError

SCOPES = ("reports:read", "admin")
"""reports:read — every reporting endpoint and the customer room; admin — all of that, and key management."""


def key_hash(key: str) -> str:
    """How a key is stored: keys are 256-bit random values, so a plain SHA-256 is enough to protect them."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class NewKey:
    """A key just created: the secret is shown this once."""

    id: str
    name: str
    scopes: list[str]
    secret: str


def create_key(session: Session, *, name: str, scopes: Sequence[str]) -> NewKey:
    """Create a key; the caller commits and shows ``secret`` to the user once."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ServiceError(f"scopes must be among {', '.join(SCOPES)} (got {', '.join(unknown) or 'none'})",
                           code="invalid_scope")
    key_id = "key_" + secrets.token_hex(6)
    secret = "lpk_" + secrets.token_urlsafe(32)
    session.add(ApiKey(id=key_id, name=name, prefix=secret[:10], key_hash=key_hash(secret), scopes=sorted(set(scopes)),
                       created_at=utcnow()))
    return NewKey(key_id, name, sorted(set(scopes)), secret)


def list_keys(session: Session) -> Sequence[ApiKey]:
    """Every key, newest first (hashes only)."""
    return session.scalars(select(ApiKey).order_by(ApiKey.created_at.desc())).all()


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key from now on (within the auth cache's few seconds)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no key {key_id}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def find_key(session: Session, presented: str) -> ApiKey | None:
    """The live key a caller presented, if any."""
    key = session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash(presented)))
    return key if key is not None and key.revoked_at is None else None
