"""Read queries over stored feedback."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from services.journey.models import FeedbackItem


@dataclass(frozen=True)
class FeedbackFilter:
    """What the caller narrowed the list to."""

    stage: str | None = None
    sentiment: str | None = None
    customer_ids: tuple[str, ...] = ()
    text: str | None = None
    source: str | None = None
    provider: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Position:
    """Where a page ends: the last item's sort key (newest first)."""

    occurred_at: datetime
    feedback_id: str


class FeedbackReadRepository:
    """Pages of feedback in ``(occurred_at, id)`` descending order (keyset pagination)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def page(self, flt: FeedbackFilter, after: Position | None, limit: int) -> Sequence[FeedbackItem]:
        """Up to ``limit`` items after ``after``."""
        stmt = select(FeedbackItem)
        if flt.stage is not None:
            stmt = stmt.where(FeedbackItem.stage_id == flt.stage)
        if flt.sentiment is not None:
            stmt = stmt.where(FeedbackItem.sentiment_label == flt.sentiment)
        if flt.customer_ids:
            stmt = stmt.where(FeedbackItem.customer_id.in_(flt.customer_ids))
        if flt.text:
            escaped = flt.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(FeedbackItem.text.ilike(f"%{escaped}%", escape="\\"))
        if flt.source:
            stmt = stmt.where(FeedbackItem.source == flt.source)
        if flt.provider:
            stmt = stmt.where(FeedbackItem.provider == flt.provider)
        if flt.start is not None:
            stmt = stmt.where(FeedbackItem.occurred_at >= flt.start)
        if flt.end is not None:
            stmt = stmt.where(FeedbackItem.occurred_at < flt.end)
        if after is not None:
            stmt = stmt.where(
                or_(
                    FeedbackItem.occurred_at < after.occurred_at,
                    and_(FeedbackItem.occurred_at == after.occurred_at, FeedbackItem.feedback_id < after.feedback_id),
                )
            )
        stmt = stmt.order_by(FeedbackItem.occurred_at.desc(), FeedbackItem.feedback_id.desc()).limit(limit)
        return self.session.scalars(stmt).all()

    def all(self, flt: FeedbackFilter, chunk: int = 1000) -> Iterator[FeedbackItem]:
        """Every matching item, newest first, read a chunk at a time."""
        after: Position | None = None
        while True:
            rows = self.page(flt, after, chunk)
            yield from rows
            if len(rows) < chunk:
                return
            after = Position(rows[-1].occurred_at, rows[-1].feedback_id)
