"""SQL of the rollups: atomic increments of per-day counters, and the reads the alert rules need."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.journey.metrics import Counts
from services.journey.models import COUNTER_COLUMNS, ExperienceDay, StageDay, StageDayPhrase


class RollupRepository:
    """Adds to and reads from ``stage_days``, ``experience_days`` and ``stage_day_phrases``."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert

    def _bump(self, model: Any, keys: Sequence[str], deltas: Mapping[tuple[Any, ...], dict[str, Any]],
              columns: Sequence[str]) -> None:
        if not deltas:
            return
        stmt = self._insert(model)
        stmt = stmt.on_conflict_do_update(
            index_elements=[getattr(model, k) for k in keys],
            set_={c: getattr(model, c) + getattr(stmt.excluded, c) for c in columns},
        )
        # One statement, many parameter sets; sorted keys keep the lock order stable across replicas.
        rows = [dict(zip(keys, key, strict=True)) | {c: values.get(c, 0) for c in columns}
                for key, values in sorted(deltas.items())]
        self.session.execute(stmt, rows)

    def bump_stage_days(self, deltas: Mapping[tuple[date, str], Counts]) -> None:
        """Add counters per (day, stage)."""
        self._bump(StageDay, ("day", "stage_id"), {k: asdict(v) for k, v in deltas.items()}, COUNTER_COLUMNS)

    def bump_experience_days(self, deltas: Mapping[tuple[date, str], Counts]) -> None:
        """Add counters per (day, priority experience)."""
        self._bump(ExperienceDay, ("day", "experience_id"), {k: asdict(v) for k, v in deltas.items()},
                   COUNTER_COLUMNS)

    def bump_phrases(self, deltas: Mapping[tuple[date, str, str], tuple[int, int]]) -> None:
        """Add (count, negative) per (day, stage, phrase)."""
        self._bump(StageDayPhrase, ("day", "stage_id", "phrase"),
                   {k: {"count": c, "negative": n} for k, (c, n) in deltas.items()}, ("count", "negative"))

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
