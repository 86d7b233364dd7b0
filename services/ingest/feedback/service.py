"""Accepting feedback: normalise, dedupe, store in the raw store and stage the event in the outbox."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from json.encoder import encode_basestring_ascii as _json_str  # what json.dumps(a str) returns
from typing import Any, Literal, cast

from sqlalchemy import Table
from sqlalchemy.orm import Session

from services.ingest.bulk import RowWriter, stamp_for, utc_json
from services.ingest.feedback.repository import RawFeedbackRepository
from services.ingest.feedback.schemas import FeedbackCreate, ItemOutcome
from services.ingest.models import OutboxMessage, RawFeedback
from shared.contracts import CONTRACT_BY_TOPIC, FEEDBACK_RAW, CloudEvent, FeedbackReceived, utcnow
from shared.ids import event_id as new_event_id
from shared.ids import time_ordered_hex

SOURCE = "/listening-path/ingest"
RAW_EVENT_TYPE = CONTRACT_BY_TOPIC[FEEDBACK_RAW].event_type
RAW_EVENT = CloudEvent[FeedbackReceived]
RAW_ROWS = RowWriter(cast(Table, RawFeedback.__table__), (
    "id", "provider", "external_id", "kind", "source", "event_id", "normalised", "original", "occurred_at",
    "received_at"), json_columns=("normalised", "original"), fresh_key="id")
OUTBOX_ROWS = RowWriter(cast(Table, OutboxMessage.__table__),
                        ("topic", "key", "event_id", "value", "created_at", "attempts"))
_SERIALIZER = FeedbackCreate.__pydantic_serializer__
_PAYLOAD_FIELDS = {"source", "provider", "text", "customer", "scores", "metadata"}
"""The fields of ``FeedbackReceived`` an item carries as they are; the rest are set by ingest."""
_ENVELOPE_HEAD = (f'{{"specversion":"1.0","source":{json.dumps(SOURCE)},"type":{json.dumps(RAW_EVENT_TYPE)},'
                  '"datacontenttype":"application/json","id":"')


def new_feedback_id() -> str:
    """A fresh feedback id."""
    return f"fb_{time_ordered_hex()}"


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
    the client only after that commit. Rows go in with one multi-row ``INSERT ... ON CONFLICT DO NOTHING``
    per table; an item whose key another writer stored first is answered ``duplicate`` with that writer's id.
    """
    traces = [traceparent] * len(items) if isinstance(traceparent, str) else list(traceparent)
    repo = RawFeedbackRepository(session)
    received_at = utcnow()
    stamp = stamp_for(session.get_bind().dialect.name)
    received_stamp = stamp(received_at)
    received_json = _json_str(utc_json(received_at))
    # An occurred_at's JSON and stored forms, worked out once per distinct time of the call (a batch's items
    # often share one, and items without one take the receipt time).
    times: dict[datetime, tuple[str, Any]] = {received_at: (received_json, received_stamp)}

    keys = [dedupe_key(item) for item in items]
    first_of: dict[tuple[str, str], int] = {}
    rows: list[tuple[Any, ...]] = []
    outbox: list[tuple[Any, ...]] = []
    ids: list[str] = []
    to_json = _SERIALIZER.to_json
    for n, (item, key, trace) in enumerate(zip(items, keys, traces, strict=True)):
        if key in first_of:
            ids.append("")  # a repeat later in the same call: a duplicate of the first, settled below
            continue
        first_of[key] = n
        feedback_id = new_feedback_id()
        ids.append(feedback_id)
        kind: str = item.resolved_kind()._value_
        occurred_at = item.occurred_at or received_at
        known_time = times.get(occurred_at)
        if known_time is None:
            known_time = times[occurred_at] = (_json_str(utc_json(occurred_at)), stamp(occurred_at))
        occurred_json, occurred_stamp = known_time
        # The item was validated on the way in: the payload's JSON is spliced from the item's own JSON (one
        # serialisation in Rust) and the fields ingest sets, instead of building and serialising a model.
        data_json = (f'{{"feedback_id":"{feedback_id}","kind":"{kind}","external_id":{_json_str(key[1])},'
                     f'"occurred_at":{occurred_json},"received_at":{received_json},'
                     ) + to_json(item, include=_PAYLOAD_FIELDS).decode("utf-8")[1:]
        event_id = new_event_id()
        trace_part = f',"traceparent":"{trace}"' if trace else ""
        value = (f'{_ENVELOPE_HEAD}{event_id}","time":{received_json},"subject":"{feedback_id}"{trace_part},'
                 f'"data":{data_json}}}').encode()
        rows.append((feedback_id, item.provider, key[1], kind, item.source._value_, event_id, data_json,
                     to_json(item, exclude_unset=True).decode("utf-8"), occurred_stamp, received_stamp))
        outbox.append((FEEDBACK_RAW, item.customer.key() or feedback_id, event_id, value, received_stamp, 0))
    inserted = RAW_ROWS.insert_new(session, rows)
    if len(inserted) < len(rows):
        # Stored before (by an earlier call or another writer): answer with the id stored first.
        known = repo.existing_ids(keys[first_of[key]] for key in first_of if ids[first_of[key]] not in inserted)
        for key, n in first_of.items():
            if ids[n] not in inserted:
                ids[n] = known[key]
        outbox = [o for o, r in zip(outbox, rows, strict=True) if r[0] in inserted]
    OUTBOX_ROWS.insert(session, outbox)
    outcomes: list[ItemOutcome] = []
    for n, key in enumerate(keys):
        first = first_of[key]
        feedback_id = ids[first]
        # Built by us from ids we made or read back: no validation needed.
        outcomes.append(_outcome(feedback_id, "accepted" if n == first and feedback_id in inserted else "duplicate"))
    return outcomes


_OUTCOME_FIELDS = frozenset({"id", "status"})
_set = object.__setattr__


def _outcome(feedback_id: str, status: Literal["accepted", "duplicate"]) -> ItemOutcome:
    """``ItemOutcome.model_construct(id=..., status=...)``: the same instance state, set directly (both fields
    given, no defaults to fill in, no extras), for a fraction of the generic constructor's cost."""
    outcome = ItemOutcome.__new__(ItemOutcome)
    _set(outcome, "__dict__", {"id": feedback_id, "status": status})
    _set(outcome, "__pydantic_fields_set__", set(_OUTCOME_FIELDS))
    _set(outcome, "__pydantic_extra__", None)
    _set(outcome, "__pydantic_private__", None)
    return outcome
