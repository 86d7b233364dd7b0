"""The ingest service's long-lived parts, built from settings: database, intake writer, outbox relay,
fetch worker and (when configured) the poll scheduler."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.fetches.worker import FetchWorker
from services.ingest.intake.writer import IntakeWriter
from services.ingest.models import OutboxMessage
from services.ingest.pollers.scheduler import PollScheduler
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters import ADAPTERS
from shared.bus import EventProducer, ensure_topics, wait_for_broker
from shared.contracts import CUSTOMER_EVENTS, FEEDBACK_RAW
from shared.db import create_db_engine, make_session_factory, ping
from shared.http.ops import ReadinessCheck, require
from shared.outbox import OutboxRelay
from shared.worker import BackgroundWorker

MIGRATIONS = Path(__file__).parent / "migrations"
TOPICS = (FEEDBACK_RAW, CUSTOMER_EVENTS)


@dataclass
class IngestRuntime:
    """Everything the ingest endpoints and background work share."""

    settings: IngestSettings
    engine: Engine
    sessions: sessionmaker[Session]
    relay: OutboxRelay
    relay_worker: BackgroundWorker
    writer: IntakeWriter
    writer_worker: BackgroundWorker
    fetcher: FetchWorker
    fetch_worker: BackgroundWorker
    scheduler: PollScheduler | None = None
    scheduler_worker: BackgroundWorker | None = None
    workers: list[BackgroundWorker] = field(default_factory=list)

    @classmethod
    def start(cls, settings: IngestSettings) -> IngestRuntime:
        """Connect, make sure the topics exist, and start the background workers."""
        bootstrap = settings.require_bootstrap()
        engine = create_db_engine(settings.database_url_for("ingest"))
        sessions = make_session_factory(engine)
        ensure_topics(bootstrap, TOPICS, partitions=settings.kafka_partitions)
        relay = OutboxRelay(
            model=OutboxMessage, sessions=sessions, producer=EventProducer(bootstrap, client_id="lp-ingest-relay"),
            service="ingest", batch_size=settings.relay_batch_size, idle_s=settings.relay_idle_s,
        )
        writer = IntakeWriter(sessions=sessions, max_group_items=settings.intake_group_items, on_commit=relay.notify)
        fetcher = FetchWorker(sessions=sessions, settings=settings, adapters=ADAPTERS, on_commit=relay.notify)
        relay_worker = BackgroundWorker("outbox-relay", relay.run)
        writer_worker = BackgroundWorker("intake-writer", writer.run)
        fetch_worker = BackgroundWorker("fetch-worker", fetcher.run)
        scheduler = scheduler_worker = None
        if settings.pollers_config is not None:
            scheduler = PollScheduler.from_file(settings.pollers_config, sessions=sessions, on_commit=relay.notify)
            scheduler_worker = BackgroundWorker("poll-scheduler", scheduler.run)
        workers = [w for w in (writer_worker, relay_worker, fetch_worker, scheduler_worker) if w is not None]
        for worker in workers:
            worker.start()
        return cls(settings, engine, sessions, relay, relay_worker, writer, writer_worker, fetcher,
                   fetch_worker, scheduler, scheduler_worker, workers)

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        checks: dict[str, ReadinessCheck] = {
            "database": lambda: ping(self.engine),
            "broker": lambda: wait_for_broker(self.settings.require_bootstrap(), timeout_s=1.0),
            "outbox_relay": lambda: require(self.relay_worker.alive, "relay thread stopped"),
        }
        return checks

    def stop(self) -> None:
        """Stop taking work, commit what was handed over, finish the relay batch in flight, close connections."""
        self.fetcher.close()
        for worker in (self.scheduler_worker, self.fetch_worker, self.writer_worker, self.relay_worker):
            if worker is not None:
                worker.stop()
        self.relay.close()
        self.engine.dispose()
