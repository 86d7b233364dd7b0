"""Accepting feedback: normalise, dedupe, store in the raw store and stage the event in the outbox."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from services.ingest.feedback.repository import RawFeedbackRepository
from services.ingest.feedback.schemas import FeedbackCreate, ItemOutcome
from services.ingest.models import OutboxMessage, RawFeedback
from shared.contracts import CONTRACT_BY_TOPIC, FEEDBACK_RAW, CloudEvent, FeedbackReceived, utcnow

SOURCE = "/listening-path/ingest"
RAW_EVENT_TYPE = CONTRACT_BY_TOPIC[FEEDBACK_RAW].event_type


def new_feedback_id() -> str:
    """A fresh feedback id."""
    return f"fb_{uuid.uuid4().hex}"


def content_key(item: FeedbackCreate) -> str:
    """A stable dedupe key for items that come without an external id."""
    doc = item.model_dump(mode="json", include={"source", "text", "customer", "scores", "occurred_at"})
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()
    return f"sha256:{digest[:40]}"


def accept_feedback(
    *, session: Session, items: Sequence[FeedbackCreate], traceparent: str
) -> list[ItemOutcome]:
    """Store each new item with its outbox message; report duplicates with the id already stored.

    Only flushes: the caller commits, and answers the client only after that commit.
    """
    repo = RawFeedbackRepository(session)
    received_at = utcnow()
    keyed = [(item, (item.provider, item.external_id or content_key(item))) for item in items]
    known = repo.existing_ids(key for _, key in keyed)

    outcomes: list[ItemOutcome] = []
    rows: list[RawFeedback] = []
    outbox: list[OutboxMessage] = []
    for item, key in keyed:
        if key in known:
            outcomes.append(ItemOutcome(id=known[key], status="duplicate"))
            continue
        feedback_id = new_feedback_id()
        known[key] = feedback_id  # a repeat later in the same batch is a duplicate of this one
        data = FeedbackReceived(
            feedback_id=feedback_id,
            kind=item.resolved_kind(),
            source=item.source,
            provider=item.provider,
            external_id=key[1],
            text=item.text,
            customer=item.customer,
            scores=item.scores,
            occurred_at=item.occurred_at or received_at,
            received_at=received_at,
            metadata=item.metadata,
        )
        event = CloudEvent[FeedbackReceived](
            source=SOURCE, type=RAW_EVENT_TYPE, subject=feedback_id, traceparent=traceparent, data=data
        )
        rows.append(
            RawFeedback(
                id=feedback_id,
                provider=data.provider,
                external_id=data.external_id,
                kind=data.kind.value,
                source=data.source.value,
                event_id=event.id,
                normalised=data.model_dump(mode="json"),
                original=item.model_dump(mode="json", exclude_unset=True),
                occurred_at=data.occurred_at,
                received_at=received_at,
            )
        )
        outbox.append(
            OutboxMessage(
                topic=FEEDBACK_RAW,
                key=data.customer.key() or feedback_id,
                event_id=event.id,
                value=event.to_bytes(),
                created_at=received_at,
                attempts=0,
            )
        )
        outcomes.append(ItemOutcome(id=feedback_id, status="accepted"))
    if rows:
        repo.add_all(rows, outbox)
    return outcomes
