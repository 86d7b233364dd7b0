"""``GET /v1/feedback``: tagged feedback, filtered, newest first, cursor-paginated."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from services.journey.models import FeedbackItem
from services.reporting.access.guard import ReportsRead
from services.reporting.customer_lookup import customer_ids_for
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.export import csv_response, flatten
from services.reporting.feedback.repository import (
    FeedbackFilter,
    FeedbackReadRepository,
    Position,
    Sort,
)
from services.reporting.feedback.schemas import FeedbackOut, FeedbackPage, SentimentOut, StageOut
from services.reporting.feedback.search import RankAfter, parse
from services.reporting.pagination import InvalidCursor, decode_cursor, encode_cursor
from services.reporting.periods import Period, TzParam, zone
from shared.contracts import FeedbackSource, Scores, SentimentLabel
from shared.http import ServiceError
from shared.http.openapi import alternative_media

router = APIRouter(prefix="/v1", tags=["feedback"], dependencies=[ReportsRead])

RELEVANCE = "relevance"


@router.get("/feedback", response_model=FeedbackPage, summary="Search tagged feedback",
            responses=alternative_media("text/csv"),
            description="Filters combine. `q` is a full-text search: every word must appear, in any form "
            "(`invoices` finds `invoice`); `\"exact phrase\"`; `-word` leaves a word out; punctuation is ignored. "
            "With `q` the list is most relevant first (`sort=newest` for newest first), without it newest first; "
            "a common word is ranked among its newest matches (some thousands, of the period if any; "
            "docs/reporting.md), while `sort=newest` and CSV list every match. "
            "Periods are whole days of `tz`, both ends included. `format=csv` streams every match as CSV, newest "
            "first, instead of one page.")
def list_feedback(
    session: SessionDep,
    runtime: RuntimeDep,
    q: Annotated[str | None, Query(min_length=2, max_length=200, description="Words to find in verbatims.",
                                   examples=["invoice total", '"invite email" -spam'])] = None,
    sort: Annotated[Sort | None, Query(description="`relevance` (the default with `q`; needs `q`) or `newest` "
                                       "(the default without `q`).")] = None,
    stage: Annotated[str | None, Query(description="Stage id from the journey map.")] = None,
    sentiment: Annotated[SentimentLabel | None, Query()] = None,
    source: Annotated[FeedbackSource | None, Query()] = None,
    provider: Annotated[str | None, Query(max_length=64)] = None,
    customer: Annotated[str | None, Query(description="Customer: our id (cu_…), the company's id for them, "
                                          "their email or their handle.", max_length=300)] = None,
    since: Annotated[date | None, Query(description="First day (in `tz`).")] = None,
    until: Annotated[date | None, Query(description="Last day (in `tz`).")] = None,
    tz: TzParam = "UTC",
    cursor: Annotated[str | None, Query(description="From the previous page's next_cursor.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> FeedbackPage | StreamingResponse:
    if limit > runtime.settings.page_size_max:
        raise ServiceError(f"limit may be at most {runtime.settings.page_size_max}", code="limit_too_large")
    if since and until and since > until:
        raise ServiceError("`since` is after `until`", code="invalid_period")
    customer_ids: tuple[str, ...] = ()
    if customer:
        key = runtime.settings.identity_key.get_secret_value().encode()
        customer_ids = tuple(customer_ids_for(session, customer, identity_key=key)) or ("-",)  # "-": matches none
    order = sort or ("relevance" if q else "newest")
    if order == RELEVANCE and not q:
        raise ServiceError("sort=relevance needs a search (`q`)", code="invalid_sort")
    zone_ = zone(tz)
    flt = FeedbackFilter(
        stage=stage, sentiment=sentiment.value if sentiment else None, customer_ids=customer_ids,
        search=parse(q) if q else None, source=source.value if source else None, provider=provider,
        start=Period(since, since, zone_).start() if since else None,
        end=Period(until, until, zone_).end() if until else None,
    )
    if format == "csv":
        def rows() -> Iterator[dict[str, object]]:
            with runtime.sessions() as own:
                for item in FeedbackReadRepository(own).all(flt):
                    yield flatten(to_out(item).model_dump(mode="json"))
        return csv_response(rows(), CSV_COLUMNS, "feedback.csv")
    repo = FeedbackReadRepository(session)
    if order == RELEVANCE:
        ranked_after = None
        if cursor:
            kind, rank, key = decode_cursor(cursor, str, float, str)
            if kind != RELEVANCE:
                raise InvalidCursor("the cursor is not one this API returned")
            ranked_after = RankAfter(rank, key)
        hits = repo.ranked_page(flt, ranked_after, limit + 1)
        more, hits = len(hits) > limit, hits[:limit]
        last = hits[-1] if more and hits else None
        next_cursor = encode_cursor(RELEVANCE, last.rank, last.key) if last else None
        return FeedbackPage(items=[to_out(h.item) for h in hits], next_cursor=next_cursor)
    after = Position(*decode_cursor(cursor, datetime, str)) if cursor else None
    items = repo.page(flt, after, limit + 1)
    more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(items[-1].occurred_at, items[-1].feedback_id) if more and items else None
    return FeedbackPage(items=[to_out(r) for r in items], next_cursor=next_cursor)


CSV_COLUMNS = ["id", "occurred_at", "kind", "source", "provider", "customer_id", "stage.id", "stage.confidence",
               "stage.method", "sentiment.label", "sentiment.score", "sentiment.confidence", "scores.nps",
               "scores.csat", "scores.ces", "scores.rating", "language", "key_phrases", "experiences", "text"]


def to_out(row: FeedbackItem) -> FeedbackOut:
    """The API shape of a stored item."""
    return FeedbackOut(
        id=row.feedback_id,
        kind=row.kind,
        source=row.source,
        provider=row.provider,
        customer_id=row.customer_id,
        experiences=row.experiences,
        text=row.text,
        sentiment=SentimentOut(
            label=row.sentiment_label,
            score=row.sentiment_score, confidence=row.sentiment_confidence,
        ),
        stage=StageOut(id=row.stage_id, confidence=row.stage_confidence, method=row.stage_method),
        scores=Scores(nps=row.nps, csat=row.csat, ces=row.ces, rating=row.rating),
        language=row.language,
        key_phrases=row.key_phrases,
        redactions=row.redactions,
        occurred_at=row.occurred_at,
        received_at=row.received_at,
        stored_at=row.stored_at,
    )
