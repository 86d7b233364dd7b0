"""The ingest service's long-lived parts, built from settings: database, intake writer, and - in the one
process that leads (``leader.py``) - the outbox relay, fetch worker, poll scheduler (when configured) and
housekeeping."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.fetches.worker import FetchWorker
from services.ingest.housekeeping import Housekeeping
from services.ingest.intake.writer import IntakeWriter
from services.ingest.leader import LeaderLock, Leadership
from services.ingest.models import OutboxMessage
from services.ingest.pollers.scheduler import PollScheduler
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters import ADAPTERS
from shared.bus import EventProducer, ensure_topics, wait_for_broker
from shared.contracts import CUSTOMER_EVENTS, FEEDBACK_RAW
from shared.db import create_db_engine, make_session_factory, ping
from shared.http.ops import ReadinessCheck, require
from shared.interpreter import settle_collector
from shared.outbox import OutboxRelay
from shared.worker import BackgroundWorker

MIGRATIONS = Path(__file__).parent / "migrations"
TOPICS = (FEEDBACK_RAW, CUSTOMER_EVENTS)
GIL_SWITCH_INTERVAL_S = 0.02
"""How long a thread may hold the GIL while another waits for it (Python's default: 0.005 s)."""


def settle_interpreter() -> None:
    """Keep the interpreter's own housekeeping off the hot path of a long-running ingest process.

    The GIL: each process runs the event loop (parsing and validating requests) and the intake writer
    (mostly inside SQLite, without the GIL), and in the leader the outbox relay. Every forced hand-over of the
    GIL between them costs both threads a wake-up; at ``GIL_SWITCH_INTERVAL_S`` there are a quarter as many
    (``bench/ingest.py``: about 10 % less CPU per batched item; docs/ingest.md).

    The garbage collector: ``settle_collector`` (start-up objects frozen, fewer young collections).
    """
    settle_collector()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)


@dataclass
class IngestRuntime:
    """Everything the ingest endpoints and background work share."""

    settings: IngestSettings
    engine: Engine
    sessions: sessionmaker[Session]
    relay: OutboxRelay
    writer: IntakeWriter
    writer_worker: BackgroundWorker
    fetcher: FetchWorker
    housekeeping: Housekeeping
    leadership: Leadership
    leadership_worker: BackgroundWorker
    scheduler: PollScheduler | None = None
    singletons: list[BackgroundWorker] = field(default_factory=list)
    """The leader's workers (relay, fetches, polls, housekeeping) while this process leads."""

    @classmethod
    def start(cls, settings: IngestSettings) -> IngestRuntime:
        """Connect, make sure the topics exist, start the intake writer, and lead if no other process does."""
        bootstrap = settings.require_bootstrap()
        engine = create_db_engine(settings.database_url_for("ingest"))
        sessions = make_session_factory(engine)
        ensure_topics(bootstrap, TOPICS, partitions=settings.kafka_partitions)
        producer = EventProducer(bootstrap, client_id="lp-ingest-relay", partitions=settings.kafka_partitions)
        relay = OutboxRelay(model=OutboxMessage, sessions=sessions, producer=producer, service="ingest",
                            batch_size=settings.relay_batch_size, idle_s=settings.relay_idle_s)
        writer = IntakeWriter(sessions=sessions, max_group_items=settings.intake_group_items, on_commit=relay.notify,
                              idempotency_ttl_s=settings.idempotency_ttl_s)
        fetcher = FetchWorker(sessions=sessions, settings=settings, adapters=ADAPTERS, on_commit=relay.notify)
        scheduler = None
        if settings.pollers_config is not None:
            scheduler = PollScheduler.from_file(settings.pollers_config, sessions=sessions, on_commit=relay.notify)
        housekeeping = Housekeeping(sessions=sessions, idempotency_ttl_s=settings.idempotency_ttl_s)
        holder: list[IngestRuntime] = []

        def lead() -> None:
            holder[0].start_singletons()

        def step_down() -> None:
            holder[0].stop_singletons()

        leadership = Leadership(LeaderLock(engine, "ingest-leader"), lead=lead, step_down=step_down,
                                retry_s=settings.leader_retry_s)
        runtime = cls(settings, engine, sessions, relay, writer, BackgroundWorker("intake-writer", writer.run),
                      fetcher, housekeeping, leadership, BackgroundWorker("leadership", leadership.run), scheduler)
        holder.append(runtime)
        runtime.writer_worker.start()
        leadership.start_if_free()
        runtime.leadership_worker.start()
        settle_interpreter()
        return runtime

    def start_singletons(self) -> None:
        """Start the work only the leader does (called when this process becomes the leader)."""
        targets: list[tuple[str, Callable[..., None]]] = [
            ("outbox-relay", self.relay.run), ("fetch-worker", self.fetcher.run),
            ("housekeeping", self.housekeeping.run),
        ]
        if self.scheduler is not None:
            targets.append(("poll-scheduler", self.scheduler.run))
        self.fetcher.reopen()
        self.singletons = [BackgroundWorker(name, target) for name, target in targets]
        for worker in self.singletons:
            worker.start()

    def stop_singletons(self) -> None:
        """Stop the leader's work: the relay finishes its batch in flight, the fetcher the envelope in hand."""
        self.fetcher.close()
        for worker in reversed(self.singletons):
            worker.stop()
        self.singletons = []
        self.relay.close()

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        checks: dict[str, ReadinessCheck] = {
            "database": lambda: ping(self.engine),
            "broker": lambda: wait_for_broker(self.settings.require_bootstrap(), timeout_s=1.0),
            "intake_writer": lambda: require(self.writer_worker.alive, "intake writer thread stopped"),
            "outbox_relay": lambda: require(
                not self.leadership.leading or all(w.alive for w in self.singletons),
                "a leader thread (relay, fetches, polls, housekeeping) stopped"),
        }
        return checks

    def stop(self) -> None:
        """Stop taking work, commit what was handed over, finish the relay batch in flight, close connections."""
        self.writer_worker.stop()
        self.leadership_worker.stop()  # steps down: stops the relay (after the writer's last commit) and the rest
        self.engine.dispose()
