"""A customer's state as an asset, kept current as their voices and CRM events arrive.

After each batch, every customer it touched is re-assessed from their history
(``metrics.assess``) at each touchpoint from the earliest new one on, so the
recorded transitions (the history behind the asset ledger) and the current
state depend only on the data, not on the order it arrived in. When the
current state changes, a ``CustomerStoryChanged`` event is staged in the
outbox for ``lp.customer.story.v1``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from services.journey import metrics
from services.journey.customers.ledger import AssetLedgerRepository
from services.journey.customers.repository import CustomerRepository
from services.journey.models import Customer, CustomerEventRecord, FeedbackItem, JourneyOutbox, StateChange
from shared.bus import OutgoingMessage
from shared.contracts import (
    CONTRACT_BY_TOPIC,
    CUSTOMER_STORY,
    AssetState,
    CloudEvent,
    CustomerStoryChanged,
    StateReason,
)
from shared.outbox import stage_messages

SOURCE = "/listening-path/journey"
_NS = uuid.UUID("0f5c1f7e-2b1e-4a55-8a0c-7b9d3c2e4f61")


@dataclass(frozen=True)
class _Point:
    touch: metrics.Touchpoint
    value_after: float | None


def history(voices: Sequence[FeedbackItem], events: Sequence[CustomerEventRecord]) -> list[_Point]:
    """A customer's touchpoints in time order, with their value after each one."""
    points: list[tuple[datetime, int, str, metrics.Touchpoint, float | None]] = []
    for item in voices:
        points.append((item.occurred_at, 1, item.feedback_id, metrics.Touchpoint(
            at=item.occurred_at, kind="feedback", sentiment_score=item.sentiment_score,
            sentiment_label=item.sentiment_label, nps=item.nps, stage=item.stage_id), None))
    for ev in events:
        points.append((ev.occurred_at, 0, ev.event_id, metrics.Touchpoint(at=ev.occurred_at, kind=ev.kind,
                                                                        value_delta=ev.value_delta), ev.value))
    points.sort(key=lambda p: (p[0], p[1], p[2]))
    out: list[_Point] = []
    value: float | None = None
    for _, _, _, touch, explicit in points:
        if touch.kind != "feedback":
            value = explicit if explicit is not None else (value or 0.0) + touch.value_delta
            if touch.kind == "cancellation":
                value = 0.0
        out.append(_Point(touch, value))
    return out


def refresh_customers(
    *, session: Session, since: Mapping[str, datetime | None], publish: bool
) -> list[CustomerStoryChanged]:
    """Re-assess each customer id in ``since`` from that time on (None: from the start); returns changes.

    Loads every touched customer's history with a handful of queries, whatever the batch size.
    """
    if not since:
        return []
    session.flush()
    repo = CustomerRepository(session)
    changed: list[CustomerStoryChanged] = []
    with session.no_autoflush:
        customers = {c.id: c for c in repo.customers(list(since)) if c.merged_into is None}
        members = repo.members_of(list(customers))
        all_members = [m for ms in members.values() for m in ms]
        voices = repo.feedback_by_customer(all_members)
        events = repo.events_by_customer(all_members)
        transitions = repo.transitions_of(list(customers))
        for customer_id in sorted(customers):
            customer = customers[customer_id]
            ids = members[customer_id]
            points = history([v for m in ids for v in voices.get(m, [])], [e for m in ids for e in events.get(m, [])])
            change = _refresh(repo, customer, points, transitions[customer_id], since[customer_id])
            if change is not None:
                changed.append(change)
    session.flush()
    AssetLedgerRepository(session).refresh(since)  # merged ones (not in ``customers``) leave the ledger
    if publish and changed:
        _stage_story_events(session, changed)
    return changed


def _refresh(repo: CustomerRepository, customer: Customer, points: list[_Point], recorded: list[StateChange],
             start: datetime | None) -> CustomerStoryChanged | None:
    kept = [] if start is None else [t for t in recorded if t.at < start]
    state: str | None = kept[-1].to_state if kept else None
    seq = kept[-1].seq + 1 if kept else 0
    first_seq = seq
    touches = [p.touch for p in points]
    new_changes: list[StateChange] = []
    value_before: float | None = None
    last_negative_stage: str | None = None
    assessment: metrics.Assessment | None = None
    for index, point in enumerate(points):
        touch = point.touch
        if touch.kind == "feedback" and touch.sentiment_label == "negative":
            last_negative_stage = touch.stage
        if start is None or touch.at >= start:
            assessment = metrics.assess(touches[: index + 1], touch.at)
            if assessment.state.value != state:
                new_changes.append(StateChange(
                    customer_id=customer.id, seq=seq, at=touch.at, from_state=state,
                    to_state=assessment.state.value, value=value_before,
                    last_negative_stage=last_negative_stage if assessment.state is AssetState.LOST else None,
                ))
                seq += 1
                state = assessment.state.value
        value_before = point.value_after if point.value_after is not None else value_before
    if any(t.seq >= first_seq for t in recorded):
        repo.delete_transitions_from(customer.id, first_seq)
    repo.add_transitions(new_changes)
    if not points:
        return None
    final = metrics.assess(touches, touches[-1].at) if assessment is None else assessment
    previous = customer.state
    customer.state = final.state.value
    customer.health = final.health
    customer.reasons = [r.model_dump() for r in final.reasons]
    customer.nps_latest = final.nps_latest
    customer.nps_category = metrics.nps_category(final.nps_latest).value if final.nps_latest is not None else None
    customer.sentiment_trend = final.sentiment_trend
    customer.last_touch_at = touches[-1].at
    customer.touchpoints = len(points)
    values = [p.value_after for p in points if p.value_after is not None]
    customer.value = values[-1] if values else customer.value
    if previous == customer.state and customer.touchpoints > 1:
        return None
    return CustomerStoryChanged(
        customer_id=customer.id,
        previous_state=AssetState(previous) if previous and previous != customer.state else None,
        state=final.state,
        health=final.health,
        reasons=[StateReason.model_validate(r) for r in customer.reasons],
        value=customer.value,
        segment=customer.segment,
        as_of=touches[-1].at,
    )


def _stage_story_events(session: Session, changes: Iterable[CustomerStoryChanged]) -> None:
    event_type = CONTRACT_BY_TOPIC[CUSTOMER_STORY].event_type
    messages: list[OutgoingMessage] = []
    ids: list[str] = []
    for change in changes:
        event_id = str(uuid.uuid5(_NS, f"{change.customer_id}/{change.as_of.isoformat()}/{change.state}"))
        event = CloudEvent[CustomerStoryChanged](id=event_id, source=SOURCE, type=event_type,
                                                 subject=change.customer_id, data=change)
        messages.append(OutgoingMessage(CUSTOMER_STORY, change.customer_id, event.to_bytes()))
        ids.append(event_id)
    stage_messages(session, JourneyOutbox, messages, ids)
