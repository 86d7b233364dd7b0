"""SQL of the rollups: atomic increments of per-day counters, and the reads the alert rules need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.journey.metrics import Counts
from services.journey.models import (
    COUNTER_COLUMNS,
    ExperienceDay,
    ExperienceQuarter,
    StageDay,
    StageDayPhrase,
    StageQuarter,
    StageQuarterPhrase,
)


@dataclass(frozen=True)
class Examples:
    """A rollup row's example voices (see ``RollupExamples``); ``merge`` keeps the better of each."""

    worst_id: str
    worst_score: float
    newest_id: str
    newest_at: datetime

    @classmethod
    def of(cls, feedback_id: str, score: float, at: datetime) -> Examples:
        """The examples of a single voice."""
        return cls(feedback_id, score, feedback_id, at)

    def merge(self, other: Examples | None) -> Examples:
        """The lowest score (then smallest id) and the latest time (then largest id) of both: order-free."""
        if other is None:
            return self
        worst = min((self.worst_score, self.worst_id), (other.worst_score, other.worst_id))
        newest = max((self.newest_at, self.newest_id), (other.newest_at, other.newest_id))
        return Examples(worst[1], worst[0], newest[1], newest[0])


def _example_updates(model: Any, excluded: Any) -> dict[str, Any]:
    """SET clauses that keep a row's examples or take the incoming ones, by the same rule as ``Examples.merge``."""
    worse = or_(model.worst_score.is_(None), excluded.worst_score < model.worst_score,
                and_(excluded.worst_score == model.worst_score, excluded.worst_id < model.worst_id))
    newer = or_(model.newest_at.is_(None), excluded.newest_at > model.newest_at,
                and_(excluded.newest_at == model.newest_at, excluded.newest_id > model.newest_id))
    return {
        "worst_id": case((worse, excluded.worst_id), else_=model.worst_id),
        "worst_score": case((worse, excluded.worst_score), else_=model.worst_score),
        "newest_id": case((newer, excluded.newest_id), else_=model.newest_id),
        "newest_at": case((newer, excluded.newest_at), else_=model.newest_at),
    }


class RollupRepository:
    """Adds to and reads from ``stage_days``, ``experience_days`` and ``stage_day_phrases`` (and adds to their
    per-quarter-hour twins)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert

    def _bump(self, model: Any, keys: Sequence[str], deltas: Mapping[tuple[Any, ...], dict[str, Any]],
              columns: Sequence[str], examples: Mapping[tuple[Any, ...], Examples] | None = None) -> None:
        if not deltas:
            return
        stmt = self._insert(model)
        set_ = {c: getattr(model, c) + getattr(stmt.excluded, c) for c in columns}
        if examples is not None:
            set_ |= _example_updates(model, stmt.excluded)
        stmt = stmt.on_conflict_do_update(index_elements=[getattr(model, k) for k in keys], set_=set_)
        # One statement, many parameter sets; sorted keys keep the lock order stable across replicas.
        rows = [dict(zip(keys, key, strict=True)) | {c: values.get(c, 0) for c in columns}
                | (asdict(examples[key]) if examples is not None else {})
                for key, values in sorted(deltas.items())]
        self.session.execute(stmt, rows)

    def bump_stage_days(self, deltas: Mapping[tuple[date, str], Counts],
                        examples: Mapping[tuple[date, str], Examples]) -> None:
        """Add counters per (day, stage) and offer each row's example voices."""
        self._bump(StageDay, ("day", "stage_id"), {k: asdict(v) for k, v in deltas.items()}, COUNTER_COLUMNS,
                   examples)

    def bump_experience_days(self, deltas: Mapping[tuple[date, str], Counts]) -> None:
        """Add counters per (day, priority experience)."""
        self._bump(ExperienceDay, ("day", "experience_id"), {k: asdict(v) for k, v in deltas.items()},
                   COUNTER_COLUMNS)

    def bump_phrases(self, deltas: Mapping[tuple[date, str, str], tuple[int, int]],
                     examples: Mapping[tuple[date, str, str], Examples]) -> None:
        """Add (count, negative) per (day, stage, phrase) and offer each row's example voices."""
        self._bump(StageDayPhrase, ("day", "stage_id", "phrase"),
                   {k: {"count": c, "negative": n} for k, (c, n) in deltas.items()}, ("count", "negative"), examples)

    def bump_quarters(self, stages: Mapping[tuple[datetime, str], Counts],
                      experiences: Mapping[tuple[datetime, str], Counts],
                      phrases: Mapping[tuple[datetime, str, str], tuple[int, int]]) -> None:
        """Add counters per (UTC quarter-hour, stage), (quarter-hour, priority experience) and (quarter-hour,
        stage, phrase)."""
        self._bump(StageQuarter, ("quarter", "stage_id"), {k: asdict(v) for k, v in stages.items()}, COUNTER_COLUMNS)
        self._bump(ExperienceQuarter, ("quarter", "experience_id"), {k: asdict(v) for k, v in experiences.items()},
                   COUNTER_COLUMNS)
        self._bump(StageQuarterPhrase, ("quarter", "stage_id", "phrase"),
                   {k: {"count": c, "negative": n} for k, (c, n) in phrases.items()}, ("count", "negative"))

    def experience_counts(self, experience_id: str, first: date, last: date) -> Counts:
        """Counters of one experience summed over [first, last]."""
        return self._sum(ExperienceDay, ExperienceDay.experience_id == experience_id, ExperienceDay.day, first, last)

    def stage_negatives(self, stage_id: str, first: date, last: date) -> dict[date, int]:
        """Negative count per day of one stage over [first, last] (days without items are absent)."""
        rows = self.session.execute(
            select(StageDay.day, StageDay.negative).where(
                StageDay.stage_id == stage_id, StageDay.day >= first, StageDay.day <= last
            )
        )
        return {d: int(n) for d, n in rows}

    def _sum(self, model: Any, where: Any, day_col: Any, first: date, last: date) -> Counts:
        stmt = select(*(func.coalesce(func.sum(getattr(model, c)), 0) for c in COUNTER_COLUMNS)).where(
            where, day_col >= first, day_col <= last
        )
        row = self.session.execute(stmt).one()
        return Counts(**dict(zip(COUNTER_COLUMNS, row, strict=True)))
