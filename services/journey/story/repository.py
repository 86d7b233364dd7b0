"""SQL of the story store's write side."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.journey.models import FeedbackItem, ProcessedEvent, StageDay

SentimentCounts = Mapping[str, int]


class StoryRepository:
    """Writes tagged feedback and its rollups inside the caller's transaction."""

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

    def add(self, items: Sequence[FeedbackItem], processed: Sequence[str], at: datetime) -> None:
        """Stage new items and the events applied."""
        self.session.add_all(items)
        self.session.add_all(ProcessedEvent(event_id=e, processed_at=at) for e in processed)
        self.session.flush()

    def bump_stage_days(self, deltas: Mapping[tuple[date, str], Mapping[str, int]]) -> None:
        """Add counts to the per-day, per-stage rollup (insert or increment, atomically)."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        for (day, stage_id), counts in sorted(deltas.items()):
            values = {
                "day": day,
                "stage_id": stage_id,
                "volume": counts.get("volume", 0),
                "negative": counts.get("negative", 0),
                "neutral": counts.get("neutral", 0),
                "positive": counts.get("positive", 0),
            }
            stmt = insert(StageDay).values(**values)
            stmt = stmt.on_conflict_do_update(
                index_elements=[StageDay.day, StageDay.stage_id],
                set_={
                    col: getattr(StageDay, col) + getattr(stmt.excluded, col)
                    for col in ("volume", "negative", "neutral", "positive")
                },
            )
            self.session.execute(stmt)
