"""``GET /v1/ledger``: customers as assets, gained, at risk and lost, this period and the one before."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.reporting.access.guard import ReportsRead
from services.reporting.deps import SessionDep
from services.reporting.ledger.service import Ledger, ledgers
from services.reporting.periods import SINCE_DOC, UNTIL_DOC, TzParam, resolve_period, zone

router = APIRouter(prefix="/v1", tags=["customers"], dependencies=[ReportsRead])


class LedgerReport(BaseModel):
    """The period asked for and the one of the same length before it."""

    current: Ledger
    previous: Ledger


@router.get("/ledger", response_model=LedgerReport, summary="The customer asset ledger for a period")
def get_ledger(
    session: SessionDep,
    since: Annotated[date | None, Query(description=SINCE_DOC)] = None,
    until: Annotated[date | None, Query(description=UNTIL_DOC)] = None,
    tz: TzParam = "UTC",
    segment: Annotated[str | None, Query(max_length=100, description="Only the customers of this segment.")] = None,
) -> LedgerReport:
    period = resolve_period(session, since, until, tz=zone(tz))
    current, previous = ledgers(session, [period, period.previous()], segment=segment)
    return LedgerReport(current=current, previous=previous)
