"""The NLP service's long-lived parts: the loaded models and the consumer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.nlp.enrichment.consumer import GROUP_ID, build_consumer
from services.nlp.models import Analyzer
from services.nlp.settings import NlpSettings
from shared.bus import BatchConsumer, EventProducer, ensure_topics, wait_for_broker
from shared.contracts import FEEDBACK_ENRICHED, FEEDBACK_RAW, FeedbackReceived, JourneyMap, dead_letter_topic
from shared.http.ops import ReadinessCheck, require
from shared.worker import BackgroundWorker


@dataclass
class NlpRuntime:
    """Everything the NLP endpoints and consumer share."""

    settings: NlpSettings
    analyzer: Analyzer
    producer: EventProducer
    consumer: BatchConsumer[FeedbackReceived]
    consumer_worker: BackgroundWorker

    @classmethod
    def start(cls, settings: NlpSettings) -> NlpRuntime:
        """Load the models and the journey map, then start consuming."""
        analyzer = Analyzer.load(JourneyMap.load(settings.journey_map), threads=settings.threads)
        bootstrap = settings.require_bootstrap()
        ensure_topics(bootstrap, (FEEDBACK_RAW, FEEDBACK_ENRICHED, dead_letter_topic(GROUP_ID)),
                      partitions=settings.kafka_partitions)
        producer = EventProducer(bootstrap, client_id="lp-nlp")
        holder: dict[str, NlpRuntime] = {}
        consumer = build_consumer(
            bootstrap=bootstrap, analyzer=lambda: holder["runtime"].analyzer, producer=producer,
            batch_size=settings.consumer_batch_size, max_wait_ms=settings.consumer_max_wait_ms,
        )
        runtime = cls(settings, analyzer, producer, consumer, BackgroundWorker("nlp-consumer", consumer.run))
        holder["runtime"] = runtime
        runtime.consumer_worker.start()
        return runtime

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        return {
            "broker": lambda: wait_for_broker(self.settings.require_bootstrap(), timeout_s=1.0),
            "consumer": lambda: require(self.consumer.running.is_set(), "consumer is not running"),
        }

    def stop(self) -> None:
        """Finish the batch in flight, commit it, close connections."""
        self.consumer_worker.stop()
        self.producer.close()
