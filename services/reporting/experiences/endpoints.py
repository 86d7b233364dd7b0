"""``GET /v1/experiences``: each priority experience against its reliability target."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from services.journey import metrics
from services.journey.metrics import Counts
from services.reporting.access.guard import ReportsRead
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.export import csv_response
from services.reporting.periods import SINCE_DOC, UNTIL_DOC, TzParam, resolve_period, zone
from services.reporting.rollup_reads import experience_totals, weekly
from services.reporting.story_map import map_in_force
from shared.http.openapi import alternative_media

router = APIRouter(prefix="/v1", tags=["priority experiences"], dependencies=[ReportsRead])


class TrendPoint(BaseModel):
    """The metric over one 7-day window."""

    week_start: date
    value: float | None
    volume: int


class ExperienceReport(BaseModel):
    """One priority experience over the period."""

    id: str
    name: str
    stage: str
    owner: str | None
    metric: str
    lower_is_better: bool
    target: float
    value: float | None
    volume: int
    status: metrics.Status = Field(description="met, missed, or insufficient_data (fewer than "
                                   f"{metrics.RELIABILITY_MIN_VOLUME} voices)")
    trend: list[TrendPoint] = Field(description="Last 8 weeks (7-day windows, days of `tz`) ending on `until`, "
                                    "oldest first.")


class ExperiencesReport(BaseModel):
    """Every priority experience of the journey map."""

    since: date
    until: date
    tz: str = Field("UTC", description="The time zone whose days the period and trend windows are.")
    experiences: list[ExperienceReport]


@router.get("/experiences", response_model=ExperiencesReport, summary="Priority experiences against their targets",
            responses=alternative_media("text/csv"))
def list_experiences(
    session: SessionDep,
    runtime: RuntimeDep,
    since: Annotated[date | None, Query(description=SINCE_DOC)] = None,
    until: Annotated[date | None, Query(description=UNTIL_DOC)] = None,
    tz: TzParam = "UTC",
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> ExperiencesReport | StreamingResponse:
    period = resolve_period(session, since, until, tz=zone(tz))
    totals = experience_totals(session, period)
    weeks = weekly(session, "experience", period)
    out = []
    for pe in map_in_force(session, runtime.journey_map).priority_experiences:
        definition = metrics.METRICS.get(pe.metric)
        if definition is None:
            continue
        result = metrics.reliability(pe.metric, totals.get(pe.id, Counts()), pe.target)
        trend = [TrendPoint(week_start=start, value=definition.compute(c), volume=c.volume)
                 for start, c in ((start, week.get(pe.id, Counts())) for start, week in weeks)]
        out.append(ExperienceReport(
            id=pe.id, name=pe.name, stage=pe.stage, owner=pe.owner, metric=pe.metric,
            lower_is_better=definition.lower_is_better, target=pe.target, value=result.value, volume=result.volume,
            status=result.status, trend=trend,
        ))
    if format == "csv":
        rows = [e.model_dump(mode="json", exclude={"trend"}) for e in out]
        return csv_response(rows, EXPERIENCE_COLUMNS, "experiences.csv")
    return ExperiencesReport(since=period.since, until=period.until, tz=str(period.tz), experiences=out)


EXPERIENCE_COLUMNS = ["id", "name", "stage", "owner", "metric", "lower_is_better", "target", "value", "volume",
                      "status"]
