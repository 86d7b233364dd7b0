"""SQL of the story store's write side: applied events and stored voices."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.journey.models import FeedbackItem, ProcessedEvent


class StoryRepository:
    """Writes tagged feedback inside the caller's transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def seen_event_ids(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these events were applied before."""
        ids = list(set(event_ids))
        rows = self.session.scalars(select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(ids)))
        return set(rows)

    def stored_feedback_ids(self, feedback_ids: Iterable[str]) -> set[str]:
        """Which of these feedback items are already in the store."""
        ids = list(set(feedback_ids))
        return set(self.session.scalars(select(FeedbackItem.feedback_id).where(FeedbackItem.feedback_id.in_(ids))))

    def mark_processed(self, event_ids: Sequence[str], at: datetime) -> None:
        """Record events as applied."""
        self.session.add_all(ProcessedEvent(event_id=e, processed_at=at) for e in event_ids)

    def add_items(self, items: Sequence[FeedbackItem]) -> None:
        """Stage new voices."""
        self.session.add_all(items)
        self.session.flush()
