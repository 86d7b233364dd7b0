"""``GET /v1/feedback``: tagged feedback, filtered, newest first, cursor-paginated."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from services.journey.models import FeedbackItem
from services.reporting.customer_lookup import customer_ids_for
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.feedback.repository import FeedbackFilter, FeedbackReadRepository, Position
from services.reporting.feedback.schemas import FeedbackOut, FeedbackPage, SentimentOut, StageOut
from services.reporting.pagination import decode_cursor, encode_cursor
from shared.contracts import Scores, SentimentLabel
from shared.http import ApiKeyRequired, ServiceError

router = APIRouter(prefix="/v1", tags=["feedback"], dependencies=[ApiKeyRequired])

@router.get("/feedback", response_model=FeedbackPage, summary="Tagged feedback, newest first")
def list_feedback(
    session: SessionDep,
    runtime: RuntimeDep,
    stage: Annotated[str | None, Query(description="Stage id from the journey map.")] = None,
    sentiment: Annotated[SentimentLabel | None, Query()] = None,
    customer: Annotated[str | None, Query(description="Customer: our id (cu_…), the company's id for them, "
                                          "their email or their handle.", max_length=300)] = None,
    cursor: Annotated[str | None, Query(description="From the previous page's next_cursor.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> FeedbackPage:
    if limit > runtime.settings.page_size_max:
        raise ServiceError(f"limit may be at most {runtime.settings.page_size_max}", code="limit_too_large")
    customer_ids: tuple[str, ...] = ()
    if customer:
        key = runtime.settings.identity_key.get_secret_value().encode()
        customer_ids = tuple(customer_ids_for(session, customer, identity_key=key)) or ("-",)  # "-": matches none
    flt = FeedbackFilter(stage=stage, sentiment=sentiment.value if sentiment else None, customer_ids=customer_ids)
    after = Position(*decode_cursor(cursor, datetime, str)) if cursor else None
    rows = FeedbackReadRepository(session).page(flt, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_cursor(rows[-1].occurred_at, rows[-1].feedback_id) if more and rows else None
    return FeedbackPage(items=[to_out(r) for r in rows], next_cursor=next_cursor)


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
