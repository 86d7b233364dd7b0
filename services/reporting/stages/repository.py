"""Read queries over the per-day stage rollup."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.journey.models import StageDay


class StageReadRepository:
    """Sums of the rollup: a few rows per stage and day, never a scan of items."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def totals(self, since: date | None, until: date | None) -> dict[str, tuple[int, int, int, int]]:
        """stage id → (volume, negative, neutral, positive) between the dates (inclusive)."""
        stmt = select(
            StageDay.stage_id,
            func.sum(StageDay.volume),
            func.sum(StageDay.negative),
            func.sum(StageDay.neutral),
            func.sum(StageDay.positive),
        ).group_by(StageDay.stage_id)
        if since is not None:
            stmt = stmt.where(StageDay.day >= since)
        if until is not None:
            stmt = stmt.where(StageDay.day <= until)
        return {row[0]: (int(row[1]), int(row[2]), int(row[3]), int(row[4])) for row in self.session.execute(stmt)}
