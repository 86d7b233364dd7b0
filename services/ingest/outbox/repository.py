"""SQL of the transactional outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from services.ingest.models import OutboxMessage


class OutboxRepository:
    """Pending messages, oldest first; marking them published."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def pending(self, limit: int) -> Sequence[OutboxMessage]:
        """The oldest unpublished messages, locked against other relays on PostgreSQL."""
        stmt = (
            select(OutboxMessage)
            .where(OutboxMessage.published_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return self.session.scalars(stmt).all()

    def mark_published(self, ids: Sequence[int], at: datetime) -> None:
        """Record that the broker acknowledged these messages."""
        self.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(published_at=at))

    def note_attempt(self, ids: Sequence[int]) -> None:
        """Count a failed publish attempt."""
        self.session.execute(
            update(OutboxMessage).where(OutboxMessage.id.in_(ids)).values(attempts=OutboxMessage.attempts + 1)
        )

    def backlog(self) -> int:
        """How many messages wait to be published."""
        stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        return int(self.session.scalar(stmt) or 0)
