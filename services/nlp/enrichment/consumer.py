"""The NLP consumer: raw feedback in, enriched feedback out, offsets committed after the publish."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from services.nlp.enrichment.service import enrich
from services.nlp.models import Analyzer
from shared.bus import BatchConsumer, ConsumedEvent, ConsumerConfig, EventProducer
from shared.contracts import FEEDBACK_RAW, NLP_GROUP, FeedbackReceived

GROUP_ID = NLP_GROUP


def build_consumer(
    *,
    bootstrap: str,
    analyzer: Callable[[], Analyzer],
    producer: EventProducer,
    batch_size: int,
    max_wait_ms: int,
) -> BatchConsumer[FeedbackReceived]:
    """A consumer that tags each batch with the analyzer in force and publishes the results."""

    def process(batch: Sequence[ConsumedEvent[FeedbackReceived]]) -> None:
        producer.publish(enrich(analyzer(), [m.event for m in batch]))

    return BatchConsumer(
        bootstrap=bootstrap,
        config=ConsumerConfig(GROUP_ID, (FEEDBACK_RAW,), batch_size=batch_size, max_wait_ms=max_wait_ms),
        payload=FeedbackReceived,
        processor=process,
        producer=producer,
        service="nlp",
    )
