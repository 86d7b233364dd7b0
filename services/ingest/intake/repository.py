"""SQL of the intake pipeline's own tables: idempotency keys, customer events and pending fetches."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from services.ingest.feedback.repository import existing_by_key
from services.ingest.intake.schemas import StoredResponse
from services.ingest.models import IdempotencyKey, PendingFetch, RawCustomerEvent


class IdempotencyRepository:
    """Kept answers of requests that carried an ``Idempotency-Key``."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def find(self, keys: Sequence[str], *, kept_since: datetime) -> dict[str, StoredResponse]:
        """The kept answers for these keys; answers kept before ``kept_since`` have expired and are removed."""
        if not keys:
            return {}
        wanted = set(keys)
        # An expired key is a new key: drop its old answer first, so that the new one can take its place.
        self.session.execute(delete(IdempotencyKey).where(IdempotencyKey.key.in_(wanted),
                                                          IdempotencyKey.created_at < kept_since))
        rows = self.session.scalars(select(IdempotencyKey).where(IdempotencyKey.key.in_(wanted)))
        return {r.key: StoredResponse(r.request_hash, r.status_code, r.response) for r in rows}

    def purge(self, *, kept_before: datetime, limit: int = 10_000) -> int:
        """Remove up to ``limit`` answers kept before ``kept_before``; returns how many were removed."""
        old = select(IdempotencyKey.key).where(IdempotencyKey.created_at < kept_before).limit(limit)
        result = self.session.execute(delete(IdempotencyKey).where(IdempotencyKey.key.in_(old.scalar_subquery())))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Keep answers (``key``, ``request_hash``, ``status_code``, ``response``, ``created_at``)."""
        if rows:
            self.session.execute(insert(IdempotencyKey), list(rows))


class CustomerEventRepository:
    """Reads and writes ``raw_customer_events`` inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def existing_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Ids already stored for these (provider, external_id) keys."""
        return existing_by_key(self.session, RawCustomerEvent, keys)

    def add(self, rows: Sequence[dict[str, Any]]) -> None:
        """Stage new events; the entry point commits."""
        if rows:
            self.session.execute(insert(RawCustomerEvent), list(rows))


class PendingFetchRepository:
    """The queue of envelopes whose content is still to be fetched."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def existing_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Queue ids already stored for these (provider, external_id) keys."""
        return existing_by_key(self.session, PendingFetch, keys)

    def add(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Queue envelopes; returns their ids."""
        ids: list[int] = []
        for row in rows:
            ids.append(int(self.session.execute(insert(PendingFetch).values(**row).returning(PendingFetch.id))
                           .scalar_one()))
        return ids

    def due(self, now: datetime, limit: int) -> Sequence[PendingFetch]:
        """Pending envelopes whose next attempt is due, oldest first (locked against other workers on PostgreSQL)."""
        stmt = (
            select(PendingFetch)
            .where(PendingFetch.status == "pending", PendingFetch.next_attempt_at <= now)
            .order_by(PendingFetch.next_attempt_at, PendingFetch.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return self.session.scalars(stmt).all()

    def get(self, fetch_id: int) -> PendingFetch | None:
        """One queued envelope."""
        return self.session.get(PendingFetch, fetch_id)

    def counts(self) -> dict[str, int]:
        """How many envelopes are in each status."""
        rows = self.session.execute(select(PendingFetch.status, func.count()).group_by(PendingFetch.status))
        return {status: int(n) for status, n in rows}
