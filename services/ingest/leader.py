"""One leader among ingest processes: the work that must run once (outbox relay, fetch worker, poll
scheduler, housekeeping) runs in whichever process holds the leader lock.

Ingest scales by processes (``LP_INGEST_WORKERS`` uvicorn workers, or replicas behind a load balancer); every
process takes requests and commits them, but only one relays the outbox - so events of one customer leave in
the order they were committed - and only one polls or fetches. The lock is

* a PostgreSQL session-level advisory lock (``pg_try_advisory_lock``) on a connection the leader keeps open:
  it spans replicas on several machines, and is released by the database when the leader's connection dies;
* an exclusive ``flock`` on a file beside the SQLite database: SQLite is one machine's file, so is its lock;
  the kernel releases it when the leader process dies.

A process that is not the leader tries again every ``retry_s``; the leader checks every ``retry_s`` that it
still holds the lock (a PostgreSQL connection can be cut) and stops the singleton work when it does not.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

log = logging.getLogger(__name__)


class LeaderLock:
    """Try to become the leader; say whether we still are; step down."""

    def __init__(self, engine: Engine, name: str) -> None:
        self.engine = engine
        self.name = name
        self._key = zlib.crc32(f"listening-path:{name}".encode()) - 2**31  # a signed 32-bit advisory lock key
        self._connection: Any = None
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        """Whether this process holds the lock (and, on PostgreSQL, its connection still answers)."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except Exception:
            log.warning("leader lost its database connection; stepping down", extra={"lock": self.name})
            self._close_connection()
            return False

    def try_acquire(self) -> bool:
        """Take the lock when it is free; True when this process holds it now."""
        if self.held:
            return True
        if self.engine.dialect.name == "sqlite":
            return self._try_file()
        return self._try_advisory()

    def release(self) -> None:
        """Step down (idempotent)."""
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            try:
                self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            except Exception:
                log.warning("cannot release the leader lock; closing its connection releases it")
            self._close_connection()

    def _try_file(self) -> bool:
        database = make_url(self.engine.url).database
        path = Path(database or "ingest.db").with_name(f"{Path(database or 'ingest.db').name}.{self.name}.lock")
        handle = open(path, "ab")  # kept open (and locked) while this process leads
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def _try_advisory(self) -> bool:
        try:
            connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except Exception as exc:
            log.warning("cannot reach the database to take the leader lock", extra={"error": repr(exc)})
            return False
        try:
            got = bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
        except Exception:
            connection.close()
            return False
        if not got:
            connection.close()
            return False
        self._connection = connection
        return True

    def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except Exception:
                log.debug("closing a lost leader connection raised")


class Leadership:
    """Runs ``lead`` (which starts the singleton work) while this process holds the lock, ``step_down`` after.

    ``run`` is a ``BackgroundWorker`` target; ``start_if_free`` takes the lock at once at startup, so a single
    process starts its singleton work before it serves its first request.
    """

    def __init__(self, lock: LeaderLock, *, lead: Callable[[], None], step_down: Callable[[], None],
                 retry_s: float = 2.0) -> None:
        self.lock = lock
        self._lead = lead
        self._step_down = step_down
        self._retry_s = retry_s
        self._leading = False
        self._guard = threading.Lock()

    @property
    def leading(self) -> bool:
        """Whether this process runs the singleton work now."""
        return self._leading

    def start_if_free(self) -> bool:
        """Take the lock if it is free and start leading; returns whether this process leads."""
        with self._guard:
            if not self._leading and self.lock.try_acquire():
                log.info("this process leads (outbox relay, fetches, polls, housekeeping)",
                         extra={"lock": self.lock.name})
                self._lead()
                self._leading = True
            return self._leading

    def run(self, stop: threading.Event) -> None:
        """Contend for (or keep checking) the lock until ``stop``; step down on the way out."""
        try:
            while not stop.wait(self._retry_s):
                if self._leading:
                    if not self.lock.held:
                        self._stop_leading()
                else:
                    self.start_if_free()
        finally:
            self._stop_leading()

    def _stop_leading(self) -> None:
        with self._guard:
            if self._leading:
                self._leading = False
                self._step_down()
            self.lock.release()
