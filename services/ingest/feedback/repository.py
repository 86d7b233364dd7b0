"""SQL of the raw store."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from services.ingest.models import OutboxMessage, RawFeedback


class RawFeedbackRepository:
    """Reads and writes ``raw_feedback`` (and its outbox rows) inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def existing_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """Feedback ids already stored for these (provider, external_id) keys."""
        wanted = list(set(keys))
        found: dict[tuple[str, str], str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            rows = self.session.execute(
                select(RawFeedback.provider, RawFeedback.external_id, RawFeedback.id).where(
                    tuple_(RawFeedback.provider, RawFeedback.external_id).in_(chunk)
                )
            )
            found.update({(p, e): i for p, e, i in rows})
        return found

    def add_all(self, rows: Sequence[RawFeedback], outbox: Sequence[OutboxMessage]) -> None:
        """Stage new items and their outbox messages; the entry point commits."""
        self.session.add_all(rows)
        self.session.add_all(outbox)
        self.session.flush()

    def count(self) -> int:
        """How many items the raw store holds."""
        return int(self.session.scalar(select(func.count()).select_from(RawFeedback)) or 0)
