"""``POST /v1/feedback``: the generic way in, one item or a batch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from fastapi.responses import JSONResponse
from pydantic import Discriminator, Tag
from sqlalchemy.exc import IntegrityError

from services.ingest.deps import RuntimeDep
from services.ingest.feedback.schemas import BatchOutcome, FeedbackBatchCreate, FeedbackCreate, ItemOutcome
from services.ingest.feedback.service import accept_feedback
from shared.db import transaction
from shared.http import ApiKeyRequired, PayloadTooLarge
from shared.observability.metrics import PIPELINE_ITEMS
from shared.observability.tracing import child_traceparent

router = APIRouter(prefix="/v1", tags=["feedback"], dependencies=[ApiKeyRequired])


def _shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "items" in value else "single"


FeedbackBody = Annotated[
    Annotated[FeedbackCreate, Tag("single")] | Annotated[FeedbackBatchCreate, Tag("batch")],
    Discriminator(_shape),
]

COMMIT_ATTEMPTS = 3


@router.post(
    "/feedback",
    status_code=202,
    response_model=ItemOutcome | BatchOutcome,
    summary="Accept feedback in the generic format",
    description=(
        "One item, or `{\"items\": [...]}`. Answers 202 only once every item is durably stored; each item is "
        "`accepted` or a `duplicate` of one stored before (same provider and external_id, or same content "
        "when there is no external_id). Invalid input gets 422 with one reason per field, and nothing is stored."
    ),
    responses={401: {"description": "Missing or wrong API key"}, 413: {"description": "Body or batch too large"}},
)
def post_feedback(
    payload: Annotated[FeedbackBody, Body()],
    runtime: RuntimeDep,
    traceparent: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    items = payload.items if isinstance(payload, FeedbackBatchCreate) else [payload]
    if len(items) > runtime.settings.max_batch_items:
        raise PayloadTooLarge(
            f"a batch may hold at most {runtime.settings.max_batch_items} items, this one has {len(items)}",
            code="batch_too_large",
        )
    trace = child_traceparent(traceparent)
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            with transaction(runtime.sessions) as session:
                outcomes = accept_feedback(session=session, items=items, traceparent=trace)
            break
        except IntegrityError:
            # Another request stored one of these keys between our check and our insert: look again.
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
    runtime.relay.notify()
    accepted = sum(o.status == "accepted" for o in outcomes)
    PIPELINE_ITEMS.labels("ingest", "accepted").inc(accepted)
    PIPELINE_ITEMS.labels("ingest", "duplicate").inc(len(outcomes) - accepted)
    headers = {"traceparent": trace}
    if isinstance(payload, FeedbackBatchCreate):
        body = BatchOutcome(items=outcomes, accepted=accepted, duplicates=len(outcomes) - accepted)
        return JSONResponse(body.model_dump(), status_code=202, headers=headers)
    return JSONResponse(outcomes[0].model_dump(), status_code=202, headers=headers)
