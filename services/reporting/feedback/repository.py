"""Read queries over stored feedback."""

from __future__ import annotations

from collections.abc import Sequence
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
        if after is not None:
            stmt = stmt.where(
                or_(
                    FeedbackItem.occurred_at < after.occurred_at,
                    and_(FeedbackItem.occurred_at == after.occurred_at, FeedbackItem.feedback_id < after.feedback_id),
                )
            )
        stmt = stmt.order_by(FeedbackItem.occurred_at.desc(), FeedbackItem.feedback_id.desc()).limit(limit)
        return self.session.scalars(stmt).all()
