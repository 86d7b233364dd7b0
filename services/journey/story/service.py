"""Applying enriched feedback to the story store, idempotently."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from services.journey.models import UNSTAGED, FeedbackItem
from services.journey.story.repository import StoryRepository
from shared.contracts import CloudEvent, FeedbackEnriched, utcnow


def apply_enriched(*, session: Session, events: Sequence[CloudEvent[FeedbackEnriched]]) -> int:
    """Store the items these events carry and roll them up; returns how many were new.

    An event applied before, or a second event for a feedback item already
    stored, changes nothing. Only flushes: the consumer loop commits.
    """
    repo = StoryRepository(session)
    seen = repo.seen_event_ids(e.id for e in events)
    stored = repo.stored_feedback_ids(e.data.feedback.feedback_id for e in events)
    now = utcnow()
    items: list[FeedbackItem] = []
    applied: list[str] = []
    deltas: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
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
        items.append(
            FeedbackItem(
                feedback_id=fb.feedback_id,
                event_id=event.id,
                customer_key=fb.customer.key(),
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
                extra={
                    "external_id": fb.external_id,
                    "stage_alternatives": [a.model_dump() for a in enriched.stage.alternatives],
                    "trace_id": event.traceparent,
                },
                journey_map_version=enriched.journey_map_version,
                model_version=enriched.model_version,
                occurred_at=fb.occurred_at,
                received_at=fb.received_at,
                stored_at=now,
            )
        )
        bucket = deltas[(fb.occurred_at.date(), enriched.stage.id or UNSTAGED)]
        bucket["volume"] += 1
        bucket[enriched.sentiment.label.value] += 1
    repo.add(items, applied, now)
    repo.bump_stage_days(deltas)
    return len(items)
