"""The outbox relay: publishes committed outbox rows to Kafka, retrying while the broker is down.

A row is marked published only after the broker acknowledged it (``acks=all``).
If the mark itself fails the row is published again later, with the same event
id, and consumers drop the repeat: delivery is at-least-once, never lossy.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy.orm import Session, sessionmaker

from services.ingest.outbox.repository import OutboxRepository
from shared.bus import EventProducer, OutgoingMessage
from shared.contracts import utcnow
from shared.db import transaction
from shared.observability.metrics import OUTBOX_BACKLOG, PIPELINE_ITEMS

log = logging.getLogger(__name__)


class OutboxRelay:
    """Moves outbox rows onto the bus, oldest first, in batches."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        producer: EventProducer,
        batch_size: int = 500,
        idle_s: float = 0.5,
        max_backoff_s: float = 10.0,
    ) -> None:
        self._sessions = sessions
        self._producer = producer
        self._batch_size = batch_size
        self._idle_s = idle_s
        self._max_backoff_s = max_backoff_s
        self._wake = threading.Event()

    def notify(self) -> None:
        """Say that new rows were committed, so the relay does not wait for its idle tick."""
        self._wake.set()

    def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        with transaction(self._sessions) as session:
            repo = OutboxRepository(session)
            rows = repo.pending(self._batch_size)
            if not rows:
                return 0
            self._producer.publish(
                [OutgoingMessage(r.topic, r.key, r.value, headers=(("ce_id", r.event_id.encode()),)) for r in rows]
            )
            repo.mark_published([r.id for r in rows], utcnow())
        PIPELINE_ITEMS.labels("ingest", "published").inc(len(rows))
        return len(rows)

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
                stop.wait(delay)
                continue
            if published < self._batch_size:
                self._refresh_backlog()
                self._wake.wait(self._idle_s)
                self._wake.clear()

    def _refresh_backlog(self) -> None:
        try:
            with transaction(self._sessions) as session:
                OUTBOX_BACKLOG.set(OutboxRepository(session).backlog())
        except Exception:
            log.warning("cannot read the outbox backlog")
