"""Keep-alive connections spread over a service's worker processes by their load.

With ``LP_<SERVICE>_WORKERS`` > 1, uvicorn's workers share one listening socket: the kernel hands each new
connection to whichever worker accepts it first, and a client that keeps its connection open (a dashboard's
connection pool, a reverse proxy, a benchmark's clients) stays with that worker for good. With few clients the
split is often uneven: six of eight connections on one worker double its queue while the other idles
(docs/reporting.md, "Connections follow the load").

Each worker keeps its load (requests in progress, averaged over the last half second) in a small table shared
through a file (``LoadTable``), and ``ConnectionBalancer`` ends a response's connection (``Connection: close``)
when its worker's load is at least ``MARGIN`` above the least loaded worker's (one connection per ``COOLDOWN_S``
at most). The client opens a new connection for its next request, and that one goes to a worker that is waiting
to accept: the idle one wins that race, since the busy worker's event loop first has to get the interpreter's
lock back from the thread doing its requests.

``serve`` creates the table's file for a multi-worker service that balances (``ServiceSpec.balance_connections``:
reporting) and passes its path in ``LP_WORKER_LOAD_FILE`` (``WORKER_LOAD_ENV``); without it (one worker, ingest,
tests) nothing is balanced.
"""

from __future__ import annotations

import fcntl
import logging
import math
import mmap
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability.metrics import HTTP_CONNECTIONS_REBALANCED

log = logging.getLogger(__name__)

WORKER_LOAD_ENV = "LP_WORKER_LOAD_FILE"
SLOTS = 64
"""Workers one table can hold (``join`` leaves any more unbalanced)."""
AVERAGE_S = 0.5
"""Time constant of a worker's load: its requests in progress, averaged over about the last half second."""
MARGIN = 1.5
"""How much more load than the least loaded worker makes a worker end a connection."""
COOLDOWN_S = 0.5
"""A worker ends at most one connection per this many seconds: the load it moved needs that long to show."""
_CELLS = 4  # per slot: pid, requests in progress, averaged load (a float), when it was last updated (ns)


def join(path: Path) -> LoadTable | None:
    """This worker's slot in the table at ``path``; ``None`` (and a warning) when all ``SLOTS`` are taken."""
    try:
        return LoadTable(path)
    except TableFull as exc:
        log.warning("%s; this worker runs without connection balancing", exc)
        return None


class TableFull(RuntimeError):
    """Every slot of the table belongs to a live worker."""


def create_table_file() -> Path:
    """A new, zeroed table file in the temporary directory (``TMPDIR``); the workers map it into memory."""
    fd, name = tempfile.mkstemp(prefix="listening-path-load-", suffix=".bin")
    with os.fdopen(fd, "wb") as f:
        f.write(bytes(SLOTS * _CELLS * 8))
    return Path(name)


class LoadTable:
    """This worker's slot in the shared table of worker loads.

    A worker's load is its number of requests in progress averaged over time (an exponential moving average with
    time constant ``AVERAGE_S``): the momentary count flickers between requests, and comparing it would end
    connections between evenly loaded workers. Each worker writes only its own slot (from its event loop: no
    lock needed) and reads the others'; a slot is claimed under an exclusive file lock, reusing the slot of a
    worker that is gone. ``clock``: monotonic nanoseconds, the same in every process (``CLOCK_MONOTONIC``).
    """

    def __init__(self, path: Path, pid: int | None = None, clock: Callable[[], int] = time.monotonic_ns) -> None:
        self.pid = pid or os.getpid()
        self.clock = clock
        self._file = path.open("r+b")
        self._map = mmap.mmap(self._file.fileno(), SLOTS * _CELLS * 8)
        self._ints = memoryview(self._map).cast("q")
        self._floats = memoryview(self._map).cast("d")
        self.slot = self._claim()
        self.in_progress = 0
        self._last_end = -(10**18)

    def _claim(self) -> int:
        with self._locked():
            for slot in range(SLOTS):
                pid = self._ints[_CELLS * slot]
                if pid in (0, self.pid) or not _alive(pid):
                    base = _CELLS * slot
                    self._ints[base + 1], self._floats[base + 2], self._ints[base + 3] = 0, 0.0, self.clock()
                    self._ints[base] = self.pid
                    return slot
        raise TableFull(f"the worker load table holds {SLOTS} workers already")

    @contextmanager
    def _locked(self) -> Iterator[None]:
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)

    def _load(self, slot: int, now: int) -> float:
        base = _CELLS * slot
        current, average = self._ints[base + 1], self._floats[base + 2]
        elapsed = max(0, now - self._ints[base + 3]) / 1e9
        return current + (average - current) * math.exp(-elapsed / AVERAGE_S)

    def _set(self, in_progress: int) -> None:
        now, base = self.clock(), _CELLS * self.slot
        self._floats[base + 2] = self._load(self.slot, now)
        self._ints[base + 3] = now
        self._ints[base + 1] = self.in_progress = in_progress

    def enter(self) -> None:
        """A request of this worker started."""
        self._set(self.in_progress + 1)

    def leave(self) -> None:
        """A request of this worker ended."""
        self._set(self.in_progress - 1)

    def load(self) -> float:
        """This worker's load now."""
        return self._load(self.slot, self.clock())

    def least_other(self) -> float | None:
        """The least load of another live worker (``None``: no other worker)."""
        now, mine = self.clock(), self.load()
        least: float | None = None
        for slot in range(SLOTS):
            pid = self._ints[_CELLS * slot]
            if pid == 0 or slot == self.slot:
                continue
            load = self._load(slot, now)
            if least is None or load < least:
                if load + MARGIN <= mine and not _alive(pid):
                    self._ints[_CELLS * slot] = 0  # a worker that died: its slot no longer counts
                    continue
                least = load
        return least

    def should_end_connection(self) -> bool:
        """Whether to end a connection now: this worker's load is ``MARGIN`` or more above the least loaded other
        worker's, and it has ended none in the last ``COOLDOWN_S``."""
        now = self.clock()
        if now - self._last_end < COOLDOWN_S * 1e9:
            return False
        least = self.least_other()
        if least is None or self.load() - least < MARGIN:
            return False
        self._last_end = now
        return True

    def close(self) -> None:
        """Give the slot back (the worker is stopping)."""
        with self._locked():
            if self._ints[_CELLS * self.slot] == self.pid:
                self._ints[_CELLS * self.slot] = 0
        self._ints.release()
        self._floats.release()
        self._map.close()
        self._file.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ConnectionBalancer:
    """ASGI middleware: counts this worker's HTTP requests in progress in ``table`` and ends the connection of a
    response when the table says so (see the module's docstring); counted in
    ``lp_http_connections_rebalanced_total``."""

    def __init__(self, app: ASGIApp, table: LoadTable, service: str) -> None:
        self.app = app
        self.table = table
        self.ended = HTTP_CONNECTIONS_REBALANCED.labels(service=service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_balanced(message: Message) -> None:
            if message["type"] == "http.response.start" and self.table.should_end_connection():
                self.ended.inc()
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        self.table.enter()
        try:
            await self.app(scope, receive, send_balanced)
        finally:
            self.table.leave()
