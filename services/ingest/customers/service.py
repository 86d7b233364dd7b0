"""Accepting CRM customer events: dedupe, store in the raw store and stage the event for lp.customer.events.v1."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from services.ingest.feedback.schemas import ItemOutcome
from services.ingest.intake.repository import CustomerEventRepository
from services.ingest.outbox.repository import OutboxRepository
from shared.contracts import CONTRACT_BY_TOPIC, CUSTOMER_EVENTS, CloudEvent, CustomerEvent, utcnow
from shared.ids import event_id as new_event_id
from shared.ids import time_ordered_hex

SOURCE = "/listening-path/ingest"
CUSTOMER_EVENT_TYPE = CONTRACT_BY_TOPIC[CUSTOMER_EVENTS].event_type


def new_customer_event_id() -> str:
    """A fresh customer-event id."""
    return f"ce_{time_ordered_hex()}"


def accept_customer_events(
    *, session: Session, events: Sequence[CustomerEvent], traceparents: Sequence[str], originals: Sequence[Any]
) -> list[ItemOutcome]:
    """Store each new event with its outbox message; report duplicates (same provider and external id).

    Only flushes: the caller commits.
    """
    repo = CustomerEventRepository(session)
    received_at = utcnow()
    known = repo.existing_ids((e.provider, e.external_id) for e in events)
    outcomes: list[ItemOutcome] = []
    rows: list[dict[str, Any]] = []
    outbox: list[dict[str, Any]] = []
    for event, trace, original in zip(events, traceparents, originals, strict=True):
        key = (event.provider, event.external_id)
        if key in known:
            outcomes.append(ItemOutcome(id=known[key], status="duplicate"))
            continue
        row_id = new_customer_event_id()
        known[key] = row_id
        event_id = new_event_id()
        envelope = CloudEvent[CustomerEvent](
            id=event_id, source=SOURCE, type=CUSTOMER_EVENT_TYPE, time=received_at,
            subject=event.customer.key() or row_id, traceparent=trace, data=event,
        )
        rows.append({
            "id": row_id,
            "provider": event.provider,
            "external_id": event.external_id,
            "event_kind": event.event_kind.value,
            "event_id": event_id,
            "normalised": event.model_dump(mode="json"),
            "original": original if isinstance(original, dict) else {"value": original},
            "occurred_at": event.occurred_at,
            "received_at": received_at,
        })
        outbox.append({
            "topic": CUSTOMER_EVENTS, "key": event.customer.key() or row_id, "event_id": event_id,
            "value": envelope.to_bytes(), "headers": None, "created_at": received_at, "published_at": None,
            "attempts": 0,
        })
        outcomes.append(ItemOutcome(id=row_id, status="accepted"))
    if rows:
        repo.add(rows)
        OutboxRepository(session).add(outbox)
    return outcomes
