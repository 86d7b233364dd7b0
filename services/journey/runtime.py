"""The journey service's long-lived parts: story store, journey map and the consumer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.journey.settings import JourneySettings
from services.journey.story.consumer import GROUP_ID, build_consumer
from shared.bus import BatchConsumer, EventProducer, ensure_topics, wait_for_broker
from shared.contracts import FEEDBACK_ENRICHED, FeedbackEnriched, JourneyMap, dead_letter_topic
from shared.db import create_db_engine, make_session_factory, ping
from shared.http.ops import ReadinessCheck, require
from shared.worker import BackgroundWorker

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class JourneyRuntime:
    """Everything the journey endpoints and consumer share."""

    settings: JourneySettings
    journey_map: JourneyMap
    engine: Engine
    sessions: sessionmaker[Session]
    producer: EventProducer
    consumer: BatchConsumer[FeedbackEnriched]
    consumer_worker: BackgroundWorker

    @classmethod
    def start(cls, settings: JourneySettings) -> JourneyRuntime:
        """Load the map, connect, and start consuming."""
        journey_map = JourneyMap.load(settings.journey_map)
        bootstrap = settings.require_bootstrap()
        engine = create_db_engine(settings.database_url_for("journey"))
        sessions = make_session_factory(engine)
        ensure_topics(bootstrap, (FEEDBACK_ENRICHED, dead_letter_topic(GROUP_ID)),
                      partitions=settings.kafka_partitions)
        producer = EventProducer(bootstrap, client_id="lp-journey")
        consumer = build_consumer(
            bootstrap=bootstrap, sessions=sessions, producer=producer,
            batch_size=settings.consumer_batch_size, max_wait_ms=settings.consumer_max_wait_ms,
        )
        worker = BackgroundWorker("journey-consumer", consumer.run)
        worker.start()
        return cls(settings, journey_map, engine, sessions, producer, consumer, worker)

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        return {
            "database": lambda: ping(self.engine),
            "broker": lambda: wait_for_broker(self.settings.require_bootstrap(), timeout_s=1.0),
            "consumer": lambda: require(self.consumer.running.is_set(), "consumer is not running"),
        }

    def stop(self) -> None:
        """Finish the batch in flight, commit it, close connections."""
        self.consumer_worker.stop()
        self.producer.close()
        self.engine.dispose()
