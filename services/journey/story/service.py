"""Applying events to the story store, idempotently: voices (enriched feedback) and CRM customer events.

For each batch, in one transaction: drop events applied before; resolve each
voice's customer; store the voice; add it to the per-day rollups of its stage,
of the priority experiences it belongs to, and of its key phrases; store CRM
events and the customer's new value; re-assess every customer touched; raise
alerts. The consumer loop commits, then offsets. The same functions rebuild
the store from a replay (``publish=False``: nothing is re-announced).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session

from services.journey.alerts.service import (
    AlertPolicy,
    VoiceCandidate,
    high_value_voices,
    negative_spikes,
    raise_alerts,
    target_crossings,
)
from services.journey.customers.repository import CustomerRepository
from services.journey.customers.service import refresh_customers
from services.journey.identity.repository import IdentityRepository
from services.journey.identity.service import IdentityResolver
from services.journey.metrics import Counts
from services.journey.models import UNSTAGED, CustomerEventRecord, FeedbackItem, utc_quarter
from services.journey.rollups.repository import Examples, RollupRepository
from services.journey.story.repository import StoryRepository
from shared.contracts import (
    CloudEvent,
    CustomerEvent,
    CustomerEventKind,
    FeedbackEnriched,
    FeedbackKind,
    JourneyMap,
    PriorityExperience,
    utcnow,
)


@dataclass(frozen=True)
class StoryContext:
    """What applying events needs besides the session."""

    journey_map: JourneyMap
    email_key: bytes
    alerts: AlertPolicy
    publish: bool = True


@dataclass
class ApplyResult:
    """What a batch changed."""

    stored: int = 0
    customers_refreshed: int = 0
    alerts: int = 0


def experiences_of(journey_map: JourneyMap, stage: str | None, text: str, phrases: Sequence[str]
                   ) -> list[PriorityExperience]:
    """The priority experiences a voice belongs to: its stage's, narrowed by their keywords if they have any."""
    if stage is None:
        return []
    haystack = f"{text} {' '.join(phrases)}".lower()
    out = []
    for pe in journey_map.priority_experiences:
        if pe.stage != stage:
            continue
        if pe.keywords and not any(re.search(rf"\b{re.escape(k.lower())}\b", haystack) for k in pe.keywords):
            continue
        out.append(pe)
    return out


class _Batch:
    """Accumulates what one batch adds, then writes it with few statements."""

    def __init__(self) -> None:
        self.stage_days: dict[tuple[date, str], Counts] = defaultdict(Counts)
        self.experience_days: dict[tuple[date, str], Counts] = defaultdict(Counts)
        self.phrases: dict[tuple[date, str, str], tuple[int, int]] = defaultdict(lambda: (0, 0))
        self.stage_quarters: dict[tuple[datetime, str], Counts] = defaultdict(Counts)
        self.experience_quarters: dict[tuple[datetime, str], Counts] = defaultdict(Counts)
        self.phrase_quarters: dict[tuple[datetime, str, str], tuple[int, int]] = defaultdict(lambda: (0, 0))
        self.stage_examples: dict[tuple[date, str], Examples] = {}
        self.phrase_examples: dict[tuple[date, str, str], Examples] = {}
        self.refresh_from: dict[str, datetime | None] = {}
        self.experience_latest: dict[str, date] = {}
        self.spike_candidates: set[tuple[date, str]] = set()
        self.voices: list[VoiceCandidate] = []

    def touch_customer(self, customer_id: str, at: datetime | None) -> None:
        if customer_id in self.refresh_from:
            current = self.refresh_from[customer_id]
            self.refresh_from[customer_id] = None if at is None or current is None else min(current, at)
        else:
            self.refresh_from[customer_id] = at


def apply_enriched(*, session: Session, events: Sequence[CloudEvent[FeedbackEnriched]], ctx: StoryContext
                   ) -> ApplyResult:
    """Store the voices these events carry and everything they change; only flushes (the caller commits)."""
    story = StoryRepository(session)
    resolver = IdentityResolver(IdentityRepository(session), email_key=ctx.email_key)
    seen = story.seen_event_ids(e.id for e in events)
    stored = story.stored_feedback_ids(e.data.feedback.feedback_id for e in events)
    resolver.prefetch(e.data.feedback.customer for e in events)
    now = utcnow()
    batch = _Batch()
    items: list[FeedbackItem] = []
    applied: list[str] = []
    for event in events:
        if event.id in seen:
            continue
        seen.add(event.id)
        applied.append(event.id)
        enriched = event.data
        fb = enriched.feedback
        if fb.feedback_id in stored:
            continue
        stored.add(fb.feedback_id)
        customer_id = resolver.resolve(fb.customer, at=fb.occurred_at)
        stage = enriched.stage.id
        experiences = experiences_of(ctx.journey_map, stage, fb.text, enriched.key_phrases)
        items.append(_item(event, customer_id, [pe.id for pe in experiences], now))

        at = fb.occurred_at.astimezone(UTC)  # rollups are of UTC days and quarter-hours, whatever the source's offset
        day, quarter = at.date(), utc_quarter(at)
        counts = Counts.of_item(sentiment=enriched.sentiment.label.value, score=enriched.sentiment.score,
                                nps=fb.scores.nps, csat=fb.scores.csat, ces=fb.scores.ces,
                                aided=fb.kind is FeedbackKind.AIDED)
        stage_key = stage or UNSTAGED
        batch.stage_days[(day, stage_key)] = batch.stage_days[(day, stage_key)].add(counts)
        batch.stage_quarters[(quarter, stage_key)] = batch.stage_quarters[(quarter, stage_key)].add(counts)
        example = Examples.of(fb.feedback_id, enriched.sentiment.score, fb.occurred_at)
        batch.stage_examples[(day, stage_key)] = example.merge(batch.stage_examples.get((day, stage_key)))
        for pe in experiences:
            batch.experience_days[(day, pe.id)] = batch.experience_days[(day, pe.id)].add(counts)
            batch.experience_quarters[(quarter, pe.id)] = batch.experience_quarters[(quarter, pe.id)].add(counts)
            batch.experience_latest[pe.id] = max(day, batch.experience_latest.get(pe.id, day))
        negative = int(enriched.sentiment.label.value == "negative")
        for phrase in dict.fromkeys(p[:200] for p in enriched.key_phrases):
            count, neg = batch.phrases[(day, stage_key, phrase)]
            batch.phrases[(day, stage_key, phrase)] = (count + 1, neg + negative)
            count, neg = batch.phrase_quarters[(quarter, stage_key, phrase)]
            batch.phrase_quarters[(quarter, stage_key, phrase)] = (count + 1, neg + negative)
            batch.phrase_examples[(day, stage_key, phrase)] = example.merge(
                batch.phrase_examples.get((day, stage_key, phrase)))
        if negative and stage:
            batch.spike_candidates.add((day, stage))
        if customer_id is not None:
            batch.touch_customer(customer_id, fb.occurred_at)
            batch.voices.append(VoiceCandidate(fb.feedback_id, customer_id, None, fb.scores.nps,
                                               enriched.sentiment.score, stage, fb.occurred_at))

    story.mark_processed(applied, now)
    story.add_items(items)
    return _finish(session, batch, resolver, ctx, ApplyResult(stored=len(items)))


def apply_customer_events(*, session: Session, events: Sequence[CloudEvent[CustomerEvent]], ctx: StoryContext
                          ) -> ApplyResult:
    """Store CRM events, update the customers' value and segment, re-assess them; only flushes."""
    story = StoryRepository(session)
    resolver = IdentityResolver(IdentityRepository(session), email_key=ctx.email_key)
    seen = story.seen_event_ids(e.id for e in events)
    known = CustomerRepository(session).existing_events((e.data.provider, e.data.external_id) for e in events)
    resolver.prefetch(e.data.customer for e in events)
    batch = _Batch()
    applied: list[str] = []
    records: list[CustomerEventRecord] = []
    for event in sorted(events, key=lambda e: e.data.occurred_at):
        if event.id in seen:
            continue
        seen.add(event.id)
        applied.append(event.id)
        data = event.data
        if (data.provider, data.external_id) in known:
            continue
        known.add((data.provider, data.external_id))
        customer_id = resolver.resolve(data.customer, at=data.occurred_at)
        if customer_id is None:
            continue  # CustomerEvent requires an identity; a reference with none cannot be placed
        customer = resolver.customer(customer_id)
        assert customer is not None
        previous = customer.value
        delta = _effective_delta(data, previous)
        records.append(CustomerEventRecord(
            event_id=event.id, customer_id=customer_id, kind=data.event_kind.value, provider=data.provider,
            external_id=data.external_id, value=data.value, value_delta=delta, segment=data.segment,
            occurred_at=data.occurred_at,
        ))
        # Keep the running value for later events of this batch; the refresh sets the final one.
        customer.value = 0.0 if data.event_kind is CustomerEventKind.CANCELLATION else (
            data.value if data.value is not None else (previous or 0.0) + delta)
        customer.segment = data.segment or customer.segment
        customer.owner = data.owner or customer.owner
        customer.currency = data.currency or customer.currency
        batch.touch_customer(customer_id, data.occurred_at)
    session.add_all(records)
    stored = len(records)
    story.mark_processed(applied, utcnow())
    return _finish(session, batch, resolver, ctx, ApplyResult(stored=stored))


def _effective_delta(event: CustomerEvent, previous: float | None) -> float:
    if event.value_delta is not None:
        return event.value_delta
    if event.event_kind is CustomerEventKind.CANCELLATION:
        return -(previous or 0.0)
    if event.value is not None:
        return event.value - (previous or 0.0)
    return 0.0


def _finish(session: Session, batch: _Batch, resolver: IdentityResolver, ctx: StoryContext, result: ApplyResult
            ) -> ApplyResult:
    rollups = RollupRepository(session)
    rollups.bump_stage_days(batch.stage_days, batch.stage_examples)
    rollups.bump_experience_days(batch.experience_days)
    rollups.bump_phrases(batch.phrases, batch.phrase_examples)
    rollups.bump_quarters(batch.stage_quarters, batch.experience_quarters, batch.phrase_quarters)
    for survivor, merged in resolver.merged:
        batch.touch_customer(survivor, None)  # a merge changes the whole history: re-assess from the start
        batch.touch_customer(merged, None)  # not re-assessed (merged), but taken out of the asset ledger
    session.flush()
    refresh_customers(session=session, since=batch.refresh_from, publish=ctx.publish)
    result.customers_refreshed = len(batch.refresh_from)
    voices = []
    for v in batch.voices:
        customer = resolver.customer(resolver.root(v.customer_id))
        value = customer.value if customer is not None else None
        voices.append(VoiceCandidate(v.feedback_id, v.customer_id, value, v.nps, v.sentiment_score, v.stage,
                                     v.occurred_at))
    alerts = high_value_voices(voices, ctx.alerts)
    alerts += target_crossings(session, ctx.journey_map, batch.experience_latest, ctx.alerts)
    alerts += negative_spikes(session, batch.spike_candidates)
    result.alerts = len(raise_alerts(session, alerts, publish=ctx.publish))
    return result


def _item(event: CloudEvent[FeedbackEnriched], customer_id: str | None, experiences: list[str], now: datetime
          ) -> FeedbackItem:
    enriched = event.data
    fb = enriched.feedback
    return FeedbackItem(
        feedback_id=fb.feedback_id,
        event_id=event.id,
        customer_id=customer_id,
        provider=fb.provider,
        source=fb.source.value,
        kind=fb.kind.value,
        text=fb.text,
        stage_id=enriched.stage.id,
        stage_confidence=enriched.stage.confidence,
        stage_method=enriched.stage.method.value,
        sentiment_label=enriched.sentiment.label.value,
        sentiment_score=enriched.sentiment.score,
        sentiment_confidence=enriched.sentiment.confidence,
        nps=fb.scores.nps,
        csat=fb.scores.csat,
        ces=fb.scores.ces,
        rating=fb.scores.rating,
        language=enriched.language,
        key_phrases=list(enriched.key_phrases),
        redactions=list(enriched.redactions),
        experiences=experiences,
        extra={
            "external_id": fb.external_id,
            "handle": fb.customer.handle,
            "stage_alternatives": [a.model_dump() for a in enriched.stage.alternatives],
            "traceparent": event.traceparent,
        },
        journey_map_version=enriched.journey_map_version,
        model_version=enriched.model_version,
        occurred_at=fb.occurred_at,
        received_at=fb.received_at,
        stored_at=now,
    )
