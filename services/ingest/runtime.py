"""The ingest service's long-lived parts: database, producer and outbox relay, built from settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.outbox.relay import OutboxRelay
from services.ingest.settings import IngestSettings
from shared.bus import EventProducer, ensure_topics, wait_for_broker
from shared.contracts import CUSTOMER_EVENTS, FEEDBACK_RAW
from shared.db import create_db_engine, make_session_factory, ping
from shared.http.ops import ReadinessCheck, require
from shared.worker import BackgroundWorker

MIGRATIONS = Path(__file__).parent / "migrations"
TOPICS = (FEEDBACK_RAW, CUSTOMER_EVENTS)


@dataclass
class IngestRuntime:
    """Everything the ingest endpoints and background work share."""

    settings: IngestSettings
    engine: Engine
    sessions: sessionmaker[Session]
    producer: EventProducer
    relay: OutboxRelay
    relay_worker: BackgroundWorker

    @classmethod
    def start(cls, settings: IngestSettings) -> IngestRuntime:
        """Connect, make sure the topics exist, and start the relay."""
        bootstrap = settings.require_bootstrap()
        engine = create_db_engine(settings.database_url_for("ingest"))
        sessions = make_session_factory(engine)
        ensure_topics(bootstrap, TOPICS, partitions=settings.kafka_partitions)
        producer = EventProducer(bootstrap, client_id="lp-ingest-relay")
        relay = OutboxRelay(
            sessions=sessions, producer=producer, batch_size=settings.relay_batch_size, idle_s=settings.relay_idle_s
        )
        worker = BackgroundWorker("outbox-relay", relay.run)
        worker.start()
        return cls(settings, engine, sessions, producer, relay, worker)

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        return {
            "database": lambda: ping(self.engine),
            "broker": lambda: wait_for_broker(self.settings.require_bootstrap(), timeout_s=1.0),
            "outbox_relay": lambda: require(self.relay_worker.alive, "relay thread stopped"),
        }

    def stop(self) -> None:
        """Stop relaying (finishing the batch in flight) and close connections."""
        self.relay_worker.stop()
        self.producer.close()
        self.engine.dispose()
