"""SQL of the raw store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from services.ingest.models import OutboxMessage, RawFeedback


def existing_by_key(session: Session, model: Any, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Any]:
    """Ids of ``model`` rows stored under these (provider, external_id) keys.

    One query per provider with ``external_id IN (...)``: it walks the unique (provider, external_id) index on
    every backend, where a row-value ``IN`` can make SQLite scan the whole table.
    """
    by_provider: dict[str, set[str]] = {}
    for provider, external_id in keys:
        by_provider.setdefault(provider, set()).add(external_id)
    found: dict[tuple[str, str], Any] = {}
    for provider, ids in by_provider.items():
        wanted = list(ids)
        for start in range(0, len(wanted), 500):
            rows = session.execute(
                select(model.external_id, model.id).where(
                    model.provider == provider, model.external_id.in_(wanted[start:start + 500])
                )
            )
            found.update({(provider, e): i for e, i in rows})
    return found


class RawFeedbackRepository:
    """Reads and writes ``raw_feedback`` (and its outbox rows) inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def existing_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Feedback ids already stored for these (provider, external_id) keys."""
        return existing_by_key(self.session, RawFeedback, keys)

    def add_rows(self, rows: Sequence[dict[str, Any]]) -> None:
        """Stage new items (column dicts) in one multi-row insert; the entry point commits."""
        if rows:
            # Core insert (executemany): the ORM's bulk path costs more than the database for small rows.
            self.session.execute(insert(cast(Table, RawFeedback.__table__)), list(rows))

    def add_all(self, rows: Sequence[RawFeedback], outbox: Sequence[OutboxMessage]) -> None:
        """Stage new items and their outbox messages as ORM objects; the entry point commits."""
        self.session.add_all(rows)
        self.session.add_all(outbox)
        self.session.flush()

    def count(self) -> int:
        """How many items the raw store holds."""
        return int(self.session.scalar(select(func.count()).select_from(RawFeedback)) or 0)
