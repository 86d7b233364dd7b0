"""``GET /v1/ledger``: customers as assets, gained, at risk and lost, this period and the one before."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.reporting.access.guard import ReportsRead
from services.reporting.deps import SessionDep
from services.reporting.ledger.service import Ledger, ledger
from services.reporting.periods import resolve_period

router = APIRouter(prefix="/v1", tags=["customers"], dependencies=[ReportsRead])


class LedgerReport(BaseModel):
    """The period asked for and the one of the same length before it."""

    current: Ledger
    previous: Ledger


@router.get("/ledger", response_model=LedgerReport, summary="The customer asset ledger for a period")
def get_ledger(
    session: SessionDep,
    since: Annotated[date | None, Query(description="First UTC day (default: 28 days before `until`).")] = None,
    until: Annotated[date | None, Query(description="Last UTC day (default: newest day with data).")] = None,
) -> LedgerReport:
    period = resolve_period(session, since, until)
    return LedgerReport(current=ledger(session, period), previous=ledger(session, period.previous()))
