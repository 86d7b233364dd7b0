"""The journey service's long-lived parts: story store, journey map, consumers and the outbox relay."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.journey.alerts.service import AlertPolicy
from services.journey.journey_map import service as journey_maps
from services.journey.models import JourneyOutbox
from services.journey.settings import JourneySettings
from services.journey.story.consumer import CUSTOMER_GROUP, FEEDBACK_GROUP, build_consumers
from services.journey.story.service import StoryContext
from shared.bus import BatchConsumer, EventProducer, ensure_topics, wait_for_broker
from shared.contracts import (
    CUSTOMER_EVENTS,
    CUSTOMER_STORY,
    FEEDBACK_ENRICHED,
    JOURNEY_ALERTS,
    JOURNEY_MAP,
    CustomerEvent,
    FeedbackEnriched,
    JourneyMap,
    dead_letter_topic,
)
from shared.db import create_db_engine, make_session_factory, ping, transaction
from shared.http.ops import ReadinessCheck, require
from shared.outbox import OutboxRelay
from shared.worker import BackgroundWorker

MIGRATIONS = Path(__file__).parent / "migrations"


def story_context(session: Session, settings: JourneySettings, *, publish: bool = True) -> StoryContext:
    """What applying events needs, with the journey map in force read from the store."""
    journey_map = journey_maps.current(session) or JourneyMap.load(settings.journey_map)
    return StoryContext(
        journey_map=journey_map,
        email_key=settings.identity_key.get_secret_value().encode("utf-8"),
        alerts=AlertPolicy(settings.high_value_threshold, settings.reliability_window_days),
        publish=publish,
    )


@dataclass
class JourneyRuntime:
    """Everything the journey endpoints and workers share."""

    settings: JourneySettings
    engine: Engine
    sessions: sessionmaker[Session]
    producer: EventProducer
    relay: OutboxRelay
    consumers: tuple[BatchConsumer[FeedbackEnriched], BatchConsumer[CustomerEvent]]
    workers: list[BackgroundWorker]

    @classmethod
    def start(cls, settings: JourneySettings) -> JourneyRuntime:
        """Adopt the configured map, connect, and start consuming and relaying."""
        configured = JourneyMap.load(settings.journey_map)
        bootstrap = settings.require_bootstrap()
        engine = create_db_engine(settings.database_url_for("journey"))
        sessions = make_session_factory(engine)
        ensure_topics(bootstrap, (FEEDBACK_ENRICHED, CUSTOMER_EVENTS, CUSTOMER_STORY, JOURNEY_ALERTS,
                                  dead_letter_topic(FEEDBACK_GROUP), dead_letter_topic(CUSTOMER_GROUP)),
                      partitions=settings.kafka_partitions)
        ensure_topics(bootstrap, (JOURNEY_MAP,), partitions=1)
        with transaction(sessions) as session:
            journey_maps.adopt_configured(session, configured)
        producer = EventProducer(bootstrap, client_id="lp-journey", partitions=settings.kafka_partitions)
        relay = OutboxRelay(model=JourneyOutbox, sessions=sessions, producer=producer, service="journey")
        consumers = build_consumers(
            bootstrap=bootstrap, sessions=sessions, producer=producer,
            context=lambda session: story_context(session, settings), after_commit=relay.notify,
            batch_size=settings.consumer_batch_size, max_wait_ms=settings.consumer_max_wait_ms,
        )
        workers = [
            BackgroundWorker("journey-voices", consumers[0].run),
            BackgroundWorker("journey-customer-events", consumers[1].run),
            BackgroundWorker("journey-outbox", relay.run),
        ]
        for worker in workers:
            worker.start()
        return cls(settings, engine, sessions, producer, relay, consumers, workers)

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        return {
            "database": lambda: ping(self.engine),
            "broker": lambda: wait_for_broker(self.settings.require_bootstrap(), timeout_s=1.0),
            "consumers": lambda: require(all(c.running.is_set() for c in self.consumers), "a consumer is not running"),
            "outbox_relay": lambda: require(self.workers[2].alive, "relay thread stopped"),
        }

    def stop(self) -> None:
        """Finish the batches in flight, commit them, publish what is staged, close connections."""
        for worker in self.workers:
            worker.stop()
        self.producer.close()
        self.engine.dispose()
