"""Periodic clean-up that runs in the leader: expired ``Idempotency-Key`` answers are purged.

A key is honoured for ``LP_IDEMPOTENCY_TTL_S`` (default 24 h) after its answer was kept; after that a request
with the same key is a new request (``intake/service.py`` ignores expired answers even before they are
purged), and the row only takes space. The purge deletes in bounded chunks so it never holds a long lock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from services.ingest.intake.repository import IdempotencyRepository
from shared.contracts import utcnow
from shared.db import transaction

log = logging.getLogger(__name__)

PURGE_CHUNK = 5000


class Housekeeping:
    """Purges expired idempotency answers every ``every_s`` seconds."""

    def __init__(self, *, sessions: sessionmaker[Session], idempotency_ttl_s: float, every_s: float | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessions
        self._ttl_s = idempotency_ttl_s
        self._every_s = every_s if every_s is not None else max(1.0, min(600.0, idempotency_ttl_s / 10))
        self._clock = clock

    def purge_expired(self) -> int:
        """Delete every answer kept longer than the TTL; returns how many were deleted."""
        cutoff = self._clock() - timedelta(seconds=self._ttl_s)
        total = 0
        while True:
            with transaction(self._sessions) as session:
                removed = IdempotencyRepository(session).purge(kept_before=cutoff, limit=PURGE_CHUNK)
            total += removed
            if removed < PURGE_CHUNK:
                break
        if total:
            log.info("purged expired idempotency keys", extra={"removed": total})
        return total

    def run(self, stop: threading.Event) -> None:
        """Purge now and then every ``every_s`` until ``stop``; a failed round only delays the next."""
        while not stop.is_set():
            try:
                self.purge_expired()
            except Exception as exc:
                log.warning("idempotency purge failed; will retry", extra={"error": repr(exc)})
            stop.wait(self._every_s)
