"""SQL of the transactional outbox."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from services.ingest.models import OutboxMessage


class OutboxRepository:
    """Pending messages, oldest first; marking them published."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, rows: Sequence[dict[str, object]]) -> None:
        """Stage messages (column dicts) in one multi-row insert; published once the caller commits."""
        if rows:
            self.session.execute(insert(cast(Table, OutboxMessage.__table__)), list(rows))
