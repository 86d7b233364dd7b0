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
from services.reporting.periods import Period
from shared.contracts import AlertKind, JourneyAlert

router = APIRouter(prefix="/v1", tags=["alerts"], dependencies=[ReportsRead])


class AlertList(BaseModel):
    """Alerts, newest first."""

    items: list[JourneyAlert]


@router.get("/alerts", response_model=AlertList, summary="Alerts raised by journey, newest first")
def list_alerts(
    session: SessionDep,
    kind: Annotated[AlertKind | None, Query()] = None,
    since: Annotated[date | None, Query(description="First UTC day of the data that raised them.")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> AlertList | StreamingResponse:
    stmt = select(AlertRecord).order_by(AlertRecord.occurred_at.desc(), AlertRecord.alert_id)
    if kind is not None:
        stmt = stmt.where(AlertRecord.kind == kind.value)
    if since is not None:
        stmt = stmt.where(AlertRecord.occurred_at >= Period(since, since).start())
    items = [JourneyAlert.model_validate(a.payload) for a in session.scalars(stmt.limit(limit))]
    if format == "csv":
        return csv_response([flatten(a.model_dump(mode="json")) for a in items], ALERT_COLUMNS, "alerts.csv")
    return AlertList(items=items)


ALERT_COLUMNS = ["alert_id", "kind", "severity", "occurred_at", "title", "stage", "experience", "owner", "customer_id",
                 "feedback_id", "customer_value"]
