"""Accepting feedback: normalise, dedupe, store in the raw store and stage the event in the outbox."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from services.ingest.bulk import RowWriter, utc_json
from services.ingest.feedback.repository import RawFeedbackRepository
from services.ingest.feedback.schemas import FeedbackCreate, ItemOutcome
from services.ingest.ids import event_id as new_event_id
from services.ingest.ids import random_hex
from services.ingest.models import OutboxMessage, RawFeedback
from shared.contracts import CONTRACT_BY_TOPIC, FEEDBACK_RAW, CloudEvent, FeedbackReceived, utcnow

SOURCE = "/listening-path/ingest"
RAW_EVENT_TYPE = CONTRACT_BY_TOPIC[FEEDBACK_RAW].event_type
RAW_EVENT = CloudEvent[FeedbackReceived]
RAW_ROWS = RowWriter(cast(Table, RawFeedback.__table__), (
    "id", "provider", "external_id", "kind", "source", "event_id", "normalised", "original", "occurred_at",
    "received_at"), json_columns=("normalised", "original"))
OUTBOX_ROWS = RowWriter(cast(Table, OutboxMessage.__table__),
                        ("topic", "key", "event_id", "value", "created_at", "attempts"))


def new_feedback_id() -> str:
    """A fresh feedback id."""
    return f"fb_{random_hex()}"


def content_key(item: FeedbackCreate) -> str:
    """A stable dedupe key for items that come without an external id."""
    doc = item.model_dump(mode="json", include={"source", "text", "customer", "scores", "occurred_at"})
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode("utf-8")).hexdigest()
    return f"sha256:{digest[:40]}"


def dedupe_key(item: FeedbackCreate) -> tuple[str, str]:
    """``(provider, external_id)``, or the content hash in place of a missing external id."""
    return item.provider, item.external_id or content_key(item)


def accept_feedback(
    *, session: Session, items: Sequence[FeedbackCreate], traceparent: str | Sequence[str]
) -> list[ItemOutcome]:
    """Store each new item with its outbox message; report duplicates with the id already stored.

    ``traceparent`` is one for all items or one per item. Only flushes: the caller commits, and answers
    the client only after that commit.
    """
    traces = [traceparent] * len(items) if isinstance(traceparent, str) else list(traceparent)
    repo = RawFeedbackRepository(session)
    received_at = utcnow()
    keyed = [(item, dedupe_key(item), trace) for item, trace in zip(items, traces, strict=True)]
    known = repo.existing_ids(key for _, key, _ in keyed)

    outcomes: list[ItemOutcome] = []
    rows: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    received_json = utc_json(received_at)
    for item, key, trace in keyed:
        if key in known:
            outcomes.append(ItemOutcome(id=known[key], status="duplicate"))
            continue
        feedback_id = new_feedback_id()
        known[key] = feedback_id  # a repeat later in the same batch is a duplicate of this one
        # The item was validated on the way in, so the payload is built without validating it again.
        customer = item.customer.ref()
        kind = item.resolved_kind()
        occurred_at = item.occurred_at or received_at
        data = FeedbackReceived.model_construct(
            feedback_id=feedback_id, kind=kind, source=item.source, provider=item.provider, external_id=key[1],
            text=item.text, customer=customer, scores=item.scores, occurred_at=occurred_at,
            received_at=received_at, metadata=item.metadata,
        )
        data_json = data.model_dump_json()
        event_id = new_event_id()
        envelope = {"specversion": "1.0", "id": event_id, "source": SOURCE, "type": RAW_EVENT_TYPE,
                    "time": received_json, "subject": feedback_id, "datacontenttype": "application/json"}
        if trace:
            envelope["traceparent"] = trace
        # The CloudEvent's JSON, built around the payload's JSON instead of serialising the payload twice.
        value = (json.dumps(envelope)[:-1] + ', "data": ' + data_json + "}").encode("utf-8")
        rows.append((feedback_id, item.provider, key[1], kind.value, item.source.value, event_id, data_json,
                     item.model_dump_json(exclude_unset=True), occurred_at, received_at))
        outbox.append((FEEDBACK_RAW, customer.key() or feedback_id, event_id, value, received_at, 0))
        outcomes.append(ItemOutcome(id=feedback_id, status="accepted"))
    if rows:
        RAW_ROWS.insert(session, rows)
        OUTBOX_ROWS.insert(session, outbox)
    return outcomes
