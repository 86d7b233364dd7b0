"""Customers as assets: the list, and each one's story."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.reporting.access.guard import ReportsRead
from services.reporting.customers.repository import NO_VALUE, CustomerFilter, CustomerReadRepository
from services.reporting.customers.schemas import CustomerPage, CustomerStory
from services.reporting.customers.service import story, summary
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.export import csv_response
from services.reporting.pagination import decode_cursor, encode_cursor
from shared.contracts import AssetState
from shared.http.openapi import alternative_media

router = APIRouter(prefix="/v1", tags=["customers"], dependencies=[ReportsRead])


@router.get("/customers", response_model=CustomerPage, summary="Customers, most valuable first",
            responses=alternative_media("text/csv"))
def list_customers(
    session: SessionDep,
    runtime: RuntimeDep,
    state: Annotated[AssetState | None, Query(description="growing, stable, at_risk or lost")] = None,
    segment: Annotated[str | None, Query(max_length=100)] = None,
    min_value: Annotated[float | None, Query(ge=0)] = None,
    cursor: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    format: Annotated[Literal["json", "csv"], Query(description="csv: every match, streamed")] = "json",
) -> CustomerPage | StreamingResponse:
    flt = CustomerFilter(state=state.value if state else None, segment=segment, min_value=min_value)
    if format == "csv":
        def every_row() -> Iterator[dict[str, object]]:
            with runtime.sessions() as own:
                repo, after = CustomerReadRepository(own), None
                while True:
                    chunk = repo.page(flt, after, 1000)
                    for c in chunk:
                        doc = summary(c).model_dump(mode="json")
                        doc["reasons"] = "; ".join(r["detail"] for r in doc["reasons"])
                        yield doc
                    if len(chunk) < 1000:
                        return
                    after = (chunk[-1].value if chunk[-1].value is not None else NO_VALUE, chunk[-1].id)
        return csv_response(every_row(), CUSTOMER_COLUMNS, "customers.csv")
    after = decode_cursor(cursor, float, str) if cursor else None
    rows = CustomerReadRepository(session).page(flt, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    next_cursor = encode_cursor(last.value if last.value is not None else NO_VALUE, last.id) if more and last else None
    return CustomerPage(items=[summary(c) for c in rows], next_cursor=next_cursor)


CUSTOMER_COLUMNS = ["id", "name", "state", "health", "value", "currency", "segment", "owner", "nps_latest",
                    "nps_category", "sentiment_trend", "last_touch_at", "touchpoints", "reasons"]


@router.get("/customers/{customer_id}", response_model=CustomerStory, summary="One customer's story",
            responses={404: {"description": "No such customer"}})
def get_customer(customer_id: str, session: SessionDep) -> CustomerStory:
    return story(session, customer_id)
