"""The transactional outbox: publish after commit, never before.

A service stages messages in its own outbox table in the same transaction as
the data they announce; ``OutboxRelay`` publishes committed rows to Kafka
(``acks=all``) and marks them published. If the broker or database is down it
backs off and tries again. A row marked published after its publish failed
is impossible; a row published twice (the mark failed) carries the same event
id, which consumers drop.

A broker can also lose messages it acknowledged (the bundled in-memory broker
when it restarts; Kafka after an unclean leader election). The relay notices:
the offsets a partition hands out go backwards, or, while it has nothing to
publish, a partition's log now ends before the messages it had acknowledged
(it asks the broker every ``audit_s`` seconds, so a loss that no later publish
would reveal - the last batch before a quiet spell - is found too; a log that
ends within what it acknowledged is read at the last acknowledged message
before it counts as a loss: see ``LogWatch.audit``). It then
marks every row it published since it started (or since the last such loss)
unpublished again, so that they are sent once more; consumers drop what they
had already applied.

Each service declares its table with ``OutboxColumns`` on its own declarative
base (a distinct table name, so that services can share one database).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column, sessionmaker

from shared.bus.producer import Delivery, EventProducer, OutgoingMessage
from shared.contracts.envelope import utcnow
from shared.db import UTCDateTime, transaction
from shared.observability.metrics import OUTBOX_BACKLOG, PIPELINE_ITEMS, Every

log = logging.getLogger(__name__)


class OutboxColumns:
    """Columns of an outbox table; mix into a mapped class that sets ``__tablename__``."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    topic: Mapped[str] = mapped_column(String(200))
    key: Mapped[str | None] = mapped_column(String(300))
    event_id: Mapped[str] = mapped_column(String(40))
    value: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Index, ...]:
        return (Index(f"ix_{cls.__tablename__}_unpublished", "published_at", "id"),)  # type: ignore[attr-defined]


def stage_messages(session: Session, model: type[OutboxColumns], messages: Sequence[OutgoingMessage],
                   event_ids: Sequence[str]) -> None:
    """Add messages to the outbox inside the caller's transaction."""
    now = utcnow()
    session.add_all(
        model(topic=m.topic, key=m.key, event_id=eid, value=m.value, created_at=now, attempts=0)  # type: ignore[call-arg]
        for m, eid in zip(messages, event_ids, strict=True)
    )


class LogWatch:
    """Notices a broker that lost messages it had acknowledged: a partition's offsets went backwards, or its log now
    ends before them."""

    def __init__(self) -> None:
        self._ends: dict[tuple[str, int], int] = {}
        self._starts: dict[tuple[str, int], int] = {}
        """Per partition, the first offset acknowledged since the last loss."""
        self.since: datetime | None = None
        """When the first batch still trusted to be on the broker was published."""

    @property
    def partitions(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs the relay has put acknowledged messages on since the last loss."""
        return list(self._ends)

    def audit(self, ends: Mapping[tuple[str, int], int],
              holds: Callable[[str, int, int], bool | None] | None = None) -> datetime | None:
        """Compare where the broker says its logs end now with the messages it acknowledged; if it lost any, return
        since when to resend (what the watch recorded stays until ``forget``, so a resend that fails is tried
        again).

        A log that ends before the first message acknowledged on it since the last loss has lost them (a broker
        that restarted empty). One that ends between the first and the last is asked once more, by reading the log
        at the last one (``holds``): the bundled broker reports ends a few hundred messages short after large
        appends, with every message still there to read. A read that says the message is gone is a loss; one that
        gets no answer settles nothing until the next audit. Without ``holds``, any short end is a loss.
        """
        for key, end in self._ends.items():
            reported = ends.get(key, 0)
            if reported >= end:
                continue
            if reported <= self._starts.get(key, 0) or holds is None or holds(key[0], key[1], end - 1) is False:
                return self.since
        return None

    def forget(self) -> None:
        """Start afresh once a loss was acted on: the next publish begins a new trusted span."""
        self.since = None
        self._ends.clear()
        self._starts.clear()

    def lost(self, deliveries: Sequence[Delivery], at: datetime) -> datetime | None:
        """Record a batch published at ``at``; if the broker lost earlier ones, return since when to resend."""
        # Per partition, the lowest offset it handed out in this batch and where its log ends after it.
        first: dict[tuple[str, int], int] = {}
        last: dict[tuple[str, int], int] = {}
        for topic, partition, offset in deliveries:
            key = (topic, partition)
            if key not in first or offset < first[key]:
                first[key] = offset
            if offset >= last.get(key, -1):
                last[key] = offset
        ends = self._ends
        lost = any(offset < ends.get(key, 0) for key, offset in first.items())
        since = self.since
        if lost:
            ends.clear()
            self._starts.clear()
        if lost or self.since is None:
            self.since = at
        for key, offset in last.items():
            ends[key] = max(ends.get(key, 0), offset + 1)
        for key, offset in first.items():
            self._starts.setdefault(key, offset)
        return since if lost else None


RELAY_BATCH = 5000
"""Rows one relay round reads, publishes and marks at most. Each round's mark is a write, and on SQLite it waits for
the write lock behind the intake writers' transactions (and, in their process, for the interpreter's lock): under
batched load a round cost about the same whatever its size, so rounds of 500 published about 4,000-7,000 items/s
while ingest accepted over 20,000, and the backlog grew for as long as the load lasted. Rounds of 5,000 kept up
(docs/ingest.md). A round holds its messages in memory: about 6 MB at 1.2 kB each."""


class OutboxRelay:
    """Moves outbox rows onto the bus, oldest first, in batches."""

    def __init__(
        self,
        *,
        model: type[OutboxColumns],
        sessions: sessionmaker[Session],
        producer: EventProducer,
        service: str,
        batch_size: int = RELAY_BATCH,
        idle_s: float = 0.5,
        linger_s: float = 0.05,
        max_backoff_s: float = 10.0,
        audit_s: float = 5.0,
    ) -> None:
        self._model = model
        self._sessions = sessions
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._idle_s = idle_s
        self._linger_s = linger_s
        self._max_backoff_s = max_backoff_s
        self._wake = threading.Event()
        self._watch = LogWatch()
        self._backlog_due = Every(1.0)
        self._audit_due = Every(audit_s)

    def notify(self) -> None:
        """Say that new rows were committed, so the relay does not wait for its idle tick."""
        self._wake.set()

    def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        model = self._model
        with transaction(self._sessions) as session:
            connection = session.connection()
            # Plain driver rows, not ORM objects or SQLAlchemy rows: the relay only reads them, and it reads them
            # for every message that passes through the service.
            rows = connection.exec_driver_sql(self._pending_sql(connection), (self._batch_size,)).fetchall()
            if not rows:
                return 0
            deliveries = self._producer.deliver(
                [OutgoingMessage(topic, key, value, (("ce_id", event_id.encode()),))
                 for _, topic, key, event_id, value in rows]
            )
            now = utcnow()
            session.execute(update(model).where(model.id.in_([r[0] for r in rows])).values(published_at=now))
            since = self._watch.lost(deliveries, now)
            if since is not None:
                resent = session.execute(update(model).where(model.published_at >= since, model.published_at < now)
                                         .values(published_at=None)).rowcount  # type: ignore[attr-defined]
                log.error("the broker lost messages it had acknowledged; publishing them again",
                          extra={"service": self._service, "since": since.isoformat(), "rows": resent})
        PIPELINE_ITEMS.labels(self._service, "published").inc(len(rows))
        return len(rows)

    def _pending_sql(self, connection: Connection) -> str:
        """The oldest unpublished rows (``id, topic, key, event_id, value``), up to a bound limit; on PostgreSQL,
        locked against other relays (rows another relay holds are skipped, not waited for)."""
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        # The table's name comes from the mapped model, never from input.
        sql = (f"SELECT id, topic, key, event_id, value FROM {self._model.__tablename__} "  # type: ignore[attr-defined] # noqa: S608
               f"WHERE published_at IS NULL ORDER BY id LIMIT {mark}")
        if connection.dialect.name == "postgresql":
            sql += " FOR UPDATE SKIP LOCKED"
        return sql

    def audit(self) -> int:
        """Ask the broker where the logs the relay wrote to end (and, where one ends before what it acknowledged,
        whether it still serves the last acknowledged message); if it lost acknowledged messages, mark the rows
        published since then unpublished again. Returns how many rows will be sent again."""
        partitions = self._watch.partitions
        if not partitions:
            return 0
        since = self._watch.audit(self._producer.log_ends(partitions), self._producer.holds)
        if since is None:
            return 0
        model = self._model
        with transaction(self._sessions) as session:
            resent = int(session.execute(update(model).where(model.published_at >= since)
                                         .values(published_at=None)).rowcount)  # type: ignore[attr-defined]
        self._watch.forget()
        log.error("the broker lost messages it had acknowledged (its log ends before them); publishing them again",
                  extra={"service": self._service, "since": since.isoformat(), "rows": resent})
        return resent

    def backlog(self) -> int:
        """How many messages wait to be published."""
        model = self._model
        with self._sessions() as session:
            stmt = select(func.count()).select_from(model).where(model.published_at.is_(None))
            return int(session.scalar(stmt) or 0)

    def _record_backlog(self) -> None:
        """Refresh ``lp_outbox_backlog`` (one per process, so per service), at most once a second."""
        if not self._backlog_due.due():
            return
        try:
            OUTBOX_BACKLOG.set(self.backlog())
        except Exception:
            log.warning("cannot read the outbox backlog")

    def close(self) -> None:
        """Flush and close the producer (after the relay stopped)."""
        self._producer.close()

    def run(self, stop: threading.Event) -> None:
        """Relay until ``stop`` is set, backing off while the broker or database is unavailable."""
        failures = 0
        while not stop.is_set():
            try:
                published = self.publish_pending()
                failures = 0
            except Exception as exc:  # database or broker unavailable: both only delay publishing
                failures += 1
                delay = min(self._max_backoff_s, 0.25 * 2 ** min(failures, 8))
                log.warning("outbox publish failed; will retry", extra={"error": repr(exc), "retry_in_s": delay})
                self._record_backlog()  # the backlog grows while publishing fails: that is when it matters
                stop.wait(delay)
                continue
            self._record_backlog()  # also while rounds are full: a backlog being worked off is one to show
            if published < self._batch_size:
                # Audit in quiet moments only: a round that published anything learnt of any loss on its partitions
                # from the offsets it got back (``LogWatch.lost``), and an audit may wait on the broker for a
                # couple of seconds (``EventProducer.holds``), which a busy relay cannot spare.
                if published == 0 and self._audit_due.due():
                    try:
                        self.audit()
                    except Exception as exc:  # the broker or database is away: the next audit tries again
                        log.debug("could not audit the broker's logs", extra={"error": repr(exc)})
                if self._wake.wait(self._idle_s):
                    # Woken by a commit: linger a little so that one round publishes many commits' rows.
                    stop.wait(self._linger_s)
                self._wake.clear()
