"""Read queries over stored feedback: filtered, searched, newest first or by relevance, keyset-paginated."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from services.journey.models import FeedbackItem
from services.reporting.feedback.search import (
    NEWEST_FIRST,
    Bounds,
    RankAfter,
    SearchQuery,
    in_period,
    text_index,
)

Sort = Literal["newest", "relevance"]


@dataclass(frozen=True)
class FeedbackFilter:
    """What the caller narrowed the list to."""

    stage: str | None = None
    sentiment: str | None = None
    customer_ids: tuple[str, ...] = ()
    search: SearchQuery | None = None
    source: str | None = None
    provider: str | None = None
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True)
class Position:
    """Where a newest-first page ends: the last item's sort key."""

    occurred_at: datetime
    feedback_id: str


@dataclass(frozen=True)
class Hit:
    """An item of a relevance page, with its rank and the index's tie-breaking key (for the cursor)."""

    item: FeedbackItem
    rank: float
    key: str


class FeedbackReadRepository:
    """Pages of feedback: newest first by ``(occurred_at, id)``, or by relevance ``(rank, id)`` for a search."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _filters(self, flt: FeedbackFilter) -> list[ColumnElement[bool]]:
        """The conditions of every filter but the period (``in_period`` has those)."""
        where: list[ColumnElement[bool]] = []
        if flt.stage is not None:
            where.append(FeedbackItem.stage_id == flt.stage)
        if flt.sentiment is not None:
            where.append(FeedbackItem.sentiment_label == flt.sentiment)
        if flt.customer_ids:
            where.append(FeedbackItem.customer_id.in_(flt.customer_ids))
        if flt.source:
            where.append(FeedbackItem.source == flt.source)
        if flt.provider:
            where.append(FeedbackItem.provider == flt.provider)
        return where

    def page(self, flt: FeedbackFilter, after: Position | None, limit: int) -> Sequence[FeedbackItem]:
        """Up to ``limit`` items after ``after``, newest first."""
        where = self._filters(flt)
        period: Bounds = (flt.start, flt.end)
        if after is not None:
            where.append(or_(
                FeedbackItem.occurred_at < after.occurred_at,
                and_(FeedbackItem.occurred_at == after.occurred_at, FeedbackItem.feedback_id < after.feedback_id),
            ))
        if flt.search is None:
            stmt = select(FeedbackItem).where(*where, *in_period(period)).order_by(*NEWEST_FIRST).limit(limit)
            return self.session.scalars(stmt).all()
        if after is not None:  # nothing past the position is later than it: for the index, the period ends there
            just_after = after.occurred_at + timedelta(microseconds=1)
            period = (flt.start, just_after if flt.end is None else min(flt.end, just_after))
        return text_index(self.session).newest(self.session, where, flt.search, period, limit,
                                               few=bool(flt.customer_ids))

    def ranked_page(self, flt: FeedbackFilter, after: RankAfter | None, limit: int) -> list[Hit]:
        """Up to ``limit`` matches of ``flt.search`` after ``after``, most relevant first."""
        if flt.search is None:
            raise ValueError("a relevance page needs a search")
        # A customer, or a stage within a period, is a small set of rows to intersect with the matches; wider
        # filters are cheaper checked match by match (measured on a million items, docs/reporting.md).
        narrowed = bool(flt.customer_ids) or _stage_in_period(flt)
        # A stage's voices are listed in time order by an index: a window of recent voices can be taken among them.
        ordered = [FeedbackItem.stage_id == flt.stage] if flt.stage is not None else []
        rows = text_index(self.session).ranked(self.session, self._filters(flt), flt.search, after, limit,
                                               period=(flt.start, flt.end), narrowed=narrowed,
                                               few=bool(flt.customer_ids), ordered=ordered)
        return [Hit(item, float(rank), str(key)) for item, rank, key in rows]

    def all(self, flt: FeedbackFilter, chunk: int = 1000) -> Iterator[FeedbackItem]:
        """Every matching item, newest first, read a chunk at a time."""
        after: Position | None = None
        while True:
            rows = self.page(flt, after, chunk)
            yield from rows
            if len(rows) < chunk:
                return
            after = Position(rows[-1].occurred_at, rows[-1].feedback_id)


def _stage_in_period(flt: FeedbackFilter) -> bool:
    """A stage within a bounded period: a few of the stored rows, found through ``ix_feedback_items_stage_occurred``."""
    return flt.stage is not None and flt.start is not None and flt.end is not None
