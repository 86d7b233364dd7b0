"""``GET /v1/overview``: the headline numbers of a period and their change."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from services.reporting.access.guard import ReportsRead
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.overview.service import Overview, overview
from services.reporting.periods import SINCE_DOC, UNTIL_DOC, TzParam, resolve_period, zone

router = APIRouter(prefix="/v1", tags=["overview"], dependencies=[ReportsRead])


@router.get("/overview", response_model=Overview,
            summary="Voices, scores and customers as assets, against the period before")
def get_overview(
    session: SessionDep,
    runtime: RuntimeDep,
    since: Annotated[date | None, Query(description=SINCE_DOC)] = None,
    until: Annotated[date | None, Query(description=UNTIL_DOC)] = None,
    tz: TzParam = "UTC",
) -> Overview:
    period = resolve_period(session, since, until, tz=zone(tz))
    return runtime.cache.get(("overview", period), lambda: overview(session, period))
