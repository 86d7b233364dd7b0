"""``GET /v1/alerts``: what journey raised, newest first."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy import select

from services.journey.models import AlertRecord
from services.reporting.access.guard import ReportsRead
from services.reporting.deps import SessionDep
from services.reporting.export import csv_response, flatten
from services.reporting.periods import Period, TzParam, zone
from shared.contracts import AlertKind, JourneyAlert
from shared.http.openapi import alternative_media

router = APIRouter(prefix="/v1", tags=["alerts"], dependencies=[ReportsRead])


class AlertList(BaseModel):
    """Alerts, newest first."""

    items: list[JourneyAlert]


@router.get("/alerts", response_model=AlertList, summary="Alerts raised by journey, newest first",
            responses=alternative_media("text/csv"))
def list_alerts(
    session: SessionDep,
    kind: Annotated[AlertKind | None, Query()] = None,
    since: Annotated[date | None, Query(description="First day (in `tz`) of the data that raised them.")] = None,
    tz: TzParam = "UTC",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> AlertList | StreamingResponse:
    stmt = select(AlertRecord).order_by(AlertRecord.occurred_at.desc(), AlertRecord.alert_id)
    if kind is not None:
        stmt = stmt.where(AlertRecord.kind == kind.value)
    if since is not None:
        stmt = stmt.where(AlertRecord.occurred_at >= Period(since, since, zone(tz)).start())
    items = [JourneyAlert.model_validate(a.payload) for a in session.scalars(stmt.limit(limit))]
    if format == "csv":
        return csv_response([flatten(a.model_dump(mode="json")) for a in items], ALERT_COLUMNS, "alerts.csv")
    return AlertList(items=items)


ALERT_COLUMNS = ["alert_id", "kind", "severity", "occurred_at", "title", "stage", "experience", "owner", "customer_id",
                 "feedback_id", "customer_value"]
