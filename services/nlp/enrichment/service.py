"""Turning received feedback into enriched feedback."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from services.nlp.metrics import record_inference
from services.nlp.models import Analysis, Analyzer, TextInput
from shared.bus import OutgoingMessage
from shared.contracts import (
    CONTRACT_BY_TOPIC,
    FEEDBACK_ENRICHED,
    CloudEvent,
    FeedbackEnriched,
    FeedbackReceived,
)

SOURCE = "/listening-path/nlp"
ENRICHED_EVENT_TYPE = CONTRACT_BY_TOPIC[FEEDBACK_ENRICHED].event_type
_ID_NAMESPACE = uuid.UUID("8f6d2a3e-6a41-4d0f-9a56-0e4bb1a1c9d2")


def enriched_event_id(received_event_id: str) -> str:
    """The enriched event's id, derived from the received one: a redelivery yields the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{received_event_id}/enriched"))


def enrich(analyzer: Analyzer, events: Sequence[CloudEvent[FeedbackReceived]]) -> list[OutgoingMessage]:
    """Tag a batch in one model pass; return the enriched events ready to publish, keys unchanged."""
    started = time.perf_counter()
    analyses = analyzer.analyze(
        [TextInput(text=e.data.text, provider=e.data.provider, metadata=e.data.metadata) for e in events]
    )
    record_inference(time.perf_counter() - started, len(events))
    return [_message(analyzer, event, analysis) for event, analysis in zip(events, analyses, strict=True)]


def _message(analyzer: Analyzer, event: CloudEvent[FeedbackReceived], analysis: Analysis) -> OutgoingMessage:
    received = event.data
    enriched = FeedbackEnriched(
        feedback=received.model_copy(update={"text": analysis.redacted_text}),
        sentiment=analysis.sentiment,
        stage=analysis.stage,
        language=analysis.language,
        key_phrases=analysis.key_phrases,
        redactions=analysis.redactions,
        journey_map_version=analyzer.journey_map.version,
        model_version=analyzer.model_version,
    )
    out = CloudEvent[FeedbackEnriched](
        id=enriched_event_id(event.id),
        source=SOURCE,
        type=ENRICHED_EVENT_TYPE,
        subject=received.feedback_id,
        traceparent=event.traceparent,
        data=enriched,
    )
    return OutgoingMessage(FEEDBACK_ENRICHED, received.customer.key() or received.feedback_id, out.to_bytes())
