"""``GET /v1/accountability``: what changed since a date, as JSON or Markdown."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from services.reporting.access.guard import ReportsRead
from services.reporting.accountability.service import AccountabilityReport, markdown, report
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.periods import UNTIL_DOC, TzParam, resolve_period, zone
from services.reporting.story_map import map_in_force

router = APIRouter(prefix="/v1", tags=["accountability"], dependencies=[ReportsRead])


@router.get("/accountability", response_model=AccountabilityReport,
            summary="What changed since a date: targets met or missed, biggest movers, new risks",
            responses={200: {"content": {"text/markdown": {}}}})
def get_accountability(
    session: SessionDep,
    runtime: RuntimeDep,
    since: Annotated[date, Query(description="The date of the last meeting (first day of the period, in `tz`).")],
    until: Annotated[date | None, Query(description=UNTIL_DOC)] = None,
    tz: TzParam = "UTC",
    format: Annotated[Literal["json", "markdown"], Query()] = "json",
) -> AccountabilityReport | PlainTextResponse:
    period = resolve_period(session, since, until, tz=zone(tz))
    result = report(session, period, map_in_force(session, runtime.journey_map))
    if format == "markdown":
        return PlainTextResponse(markdown(result), media_type="text/markdown; charset=utf-8")
    return result
