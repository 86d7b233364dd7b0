"""SQL of the pollers' cursors."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.ingest.models import PollCursor
from shared.contracts import utcnow


class CursorRepository:
    """Where each source stopped, read and written inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, source: str) -> PollCursor | None:
        """The cursor of one source."""
        return self.session.get(PollCursor, source)

    def all(self) -> dict[str, PollCursor]:
        """Every cursor, by source name."""
        return {c.source: c for c in self.session.scalars(select(PollCursor))}

    def save(self, source: str, *, state: dict[str, Any], ran_at: datetime, error: str | None) -> None:
        """Record a run: its new state (unchanged after a failure) and its error, if any."""
        cursor = self.get(source)
        if cursor is None:
            cursor = PollCursor(source=source, state=state, last_run_at=ran_at, last_error=error, updated_at=utcnow())
            self.session.add(cursor)
        else:
            cursor.state = state
            cursor.last_run_at = ran_at
            cursor.last_error = error
            cursor.updated_at = utcnow()
        self.session.flush()
