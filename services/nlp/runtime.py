"""The NLP service's long-lived parts: the loaded models and the consumer."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from services.nlp.enrichment.consumer import GROUP_ID, build_consumer
from services.nlp.models import Analyzer
from services.nlp.settings import NlpSettings
from shared.bus import BatchConsumer, EventProducer, TopicFollower, ensure_topics, wait_for_broker
from shared.contracts import (
    FEEDBACK_ENRICHED,
    FEEDBACK_RAW,
    JOURNEY_MAP,
    FeedbackReceived,
    JourneyMap,
    dead_letter_topic,
)
from shared.http.ops import ReadinessCheck, require
from shared.worker import BackgroundWorker

log = logging.getLogger(__name__)


@dataclass
class NlpRuntime:
    """Everything the NLP endpoints and consumer share."""

    settings: NlpSettings
    analyzer: Analyzer
    producer: EventProducer
    consumer: BatchConsumer[FeedbackReceived]
    consumer_worker: BackgroundWorker
    map_worker: BackgroundWorker | None = None

    @classmethod
    def start(cls, settings: NlpSettings) -> NlpRuntime:
        """Load the models and the journey map, then start consuming."""
        analyzer = Analyzer.load(JourneyMap.load(settings.journey_map), threads=settings.threads)
        bootstrap = settings.require_bootstrap()
        ensure_topics(bootstrap, (FEEDBACK_RAW, FEEDBACK_ENRICHED, dead_letter_topic(GROUP_ID)),
                      partitions=settings.kafka_partitions)
        producer = EventProducer(bootstrap, client_id="lp-nlp", partitions=settings.kafka_partitions)
        holder: dict[str, NlpRuntime] = {}
        consumer = build_consumer(
            bootstrap=bootstrap, analyzer=lambda: holder["runtime"].analyzer, producer=producer,
            batch_size=settings.consumer_batch_size, max_wait_ms=settings.consumer_max_wait_ms,
        )
        ensure_topics(bootstrap, (JOURNEY_MAP,), partitions=1)
        runtime = cls(settings, analyzer, producer, consumer, BackgroundWorker("nlp-consumer", consumer.run))
        holder["runtime"] = runtime
        follower = TopicFollower(bootstrap=bootstrap, topic=JOURNEY_MAP, payload=JourneyMap,
                                 on_event=lambda event: runtime.adopt(event.data))
        runtime.map_worker = BackgroundWorker("nlp-journey-map", follower.run)
        runtime.consumer_worker.start()
        runtime.map_worker.start()
        return runtime

    def adopt(self, journey_map: JourneyMap) -> None:
        """Tag new items against ``journey_map`` from now on, if it is newer than the map in use."""
        if journey_map.version <= self.analyzer.journey_map.version:
            return
        self.analyzer = self.analyzer.with_journey_map(journey_map)
        log.info("tagging against a new journey map", extra={"version": journey_map.version})

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        return {
            "broker": lambda: wait_for_broker(self.settings.require_bootstrap(), timeout_s=1.0),
            "consumer": lambda: require(self.consumer.running.is_set(), "consumer is not running"),
        }

    def stop(self) -> None:
        """Finish the batch in flight, commit it, close connections."""
        if self.map_worker is not None:
            self.map_worker.stop()
        self.consumer_worker.stop()
        self.producer.close()
