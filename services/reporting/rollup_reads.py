"""Sums of the rollups over a period: a few rows per day and key, never a scan of items."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from services.journey.metrics import Counts
from services.journey.models import COUNTER_COLUMNS, ExperienceDay, FeedbackItem, StageDay, StageDayPhrase
from services.reporting.periods import Period


def _totals(session: Session, model: Any, key: Any, period: Period) -> dict[str, Counts]:
    stmt = (select(key, *(func.sum(getattr(model, c)) for c in COUNTER_COLUMNS))
            .where(model.day >= period.since, model.day <= period.until).group_by(key))
    return {row[0]: Counts(**{c: v or 0 for c, v in zip(COUNTER_COLUMNS, row[1:], strict=True)})
            for row in session.execute(stmt)}


def stage_totals(session: Session, period: Period) -> dict[str, Counts]:
    """Counters per stage id over the period."""
    return _totals(session, StageDay, StageDay.stage_id, period)


def experience_totals(session: Session, period: Period) -> dict[str, Counts]:
    """Counters per priority experience over the period."""
    return _totals(session, ExperienceDay, ExperienceDay.experience_id, period)


def weekly(session: Session, *, experience: str | None = None, stage: str | None = None, until: date,
           weeks: int = 8) -> list[tuple[date, Counts]]:
    """Counters per 7-day window ending on ``until``, oldest first (windows end on ``until``, not on Sundays)."""
    first = until - timedelta(days=7 * weeks - 1)
    model: Any = ExperienceDay if experience is not None else StageDay
    where = ExperienceDay.experience_id == experience if experience is not None else StageDay.stage_id == stage
    rows = session.execute(select(model.day, *(getattr(model, c) for c in COUNTER_COLUMNS))
                           .where(where, model.day >= first, model.day <= until))
    buckets = [Counts() for _ in range(weeks)]
    for row in rows:
        index = (row[0] - first).days // 7
        buckets[index] = buckets[index].add(Counts(**dict(zip(COUNTER_COLUMNS, row[1:], strict=True))))
    return [(first + timedelta(days=7 * i), buckets[i]) for i in range(weeks)]


def top_phrases(session: Session, stage: str, period: Period, limit: int = 5) -> Sequence[tuple[str, int, int]]:
    """(phrase, count, negative) most said about a stage over the period."""
    total = func.sum(StageDayPhrase.count)
    stmt = (select(StageDayPhrase.phrase, total, func.sum(StageDayPhrase.negative))
            .where(StageDayPhrase.stage_id == stage, StageDayPhrase.day >= period.since,
                   StageDayPhrase.day <= period.until)
            .group_by(StageDayPhrase.phrase).order_by(total.desc(), StageDayPhrase.phrase).limit(limit))
    return [(p, int(c), int(n)) for p, c, n in session.execute(stmt)]


def verbatims(session: Session, stage: str, phrase: str, period: Period, limit: int = 2) -> list[str]:
    """The newest (redacted) verbatims of a stage tagged with a key phrase (or containing it)."""
    tagged = cast(FeedbackItem.key_phrases, Text).like(f"%{json.dumps(phrase)}%")
    stmt = (select(FeedbackItem.text)
            .where(FeedbackItem.stage_id == stage, FeedbackItem.occurred_at >= period.start(),
                   FeedbackItem.occurred_at < period.end(), or_(tagged, FeedbackItem.text.ilike(f"%{phrase}%")))
            .order_by(FeedbackItem.occurred_at.desc()).limit(limit))
    return list(session.scalars(stmt))
