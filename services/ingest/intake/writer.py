"""The intake writer: one thread that commits what concurrent requests hand it, many units per transaction.

Group commit: while one transaction commits, new units queue up; the next transaction takes all of them
(up to ``max_group_items`` records). Each caller is answered only after the transaction holding its unit
committed, so "2xx only once durable" holds, and the cost of a commit is shared by every request in it.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.intake.schemas import Intake, IntakeResult
from services.ingest.intake.service import DEFAULT_IDEMPOTENCY_TTL_S, accept_intake
from shared.db import transaction
from shared.http import ServiceError

log = logging.getLogger(__name__)

COMMIT_ATTEMPTS = 3


class StorageUnavailable(ServiceError):
    """The raw store cannot take writes right now; nothing of the request was stored."""

    status_code = 503
    code = "storage_unavailable"


@dataclass
class _Pending:
    """A unit waiting for its commit: answered through ``future`` (threads) or ``waiter`` on ``loop`` (async)."""

    intake: Intake
    future: Future[IntakeResult] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[IntakeResult] | None = None

    def start(self) -> bool:
        """Whether the unit is still wanted (its caller has not given up); a threaded one cannot be cancelled now."""
        if self.future is not None:
            return self.future.set_running_or_notify_cancel()
        return self.waiter is not None and not self.waiter.cancelled()


def _settle(answers: list[tuple[asyncio.Future[IntakeResult], IntakeResult | None, BaseException | None]]) -> None:
    """On the event loop: answer every waiter of one commit (one wake-up of the loop for all of them)."""
    for waiter, result, exc in answers:
        if waiter.cancelled():
            continue
        if exc is not None:
            waiter.set_exception(exc)
        else:
            waiter.set_result(result)  # type: ignore[arg-type]


class IntakeWriter:
    """Commits intake units from any thread; ``accept`` awaits the commit from async code."""

    def __init__(self, *, sessions: sessionmaker[Session], max_group_items: int = 5000,
                 on_commit: Callable[[], None] | None = None, gather_s: float = 0.002,
                 idempotency_ttl_s: float = DEFAULT_IDEMPOTENCY_TTL_S) -> None:
        self._sessions = sessions
        self._idempotency_ttl_s = idempotency_ttl_s
        self._max_group_items = max_group_items
        self._gather_s = gather_s
        self._on_commit = on_commit
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()

    def submit(self, intake: Intake) -> Future[IntakeResult]:
        """Queue a unit; the future resolves once it is committed (or fails with the reason)."""
        future: Future[IntakeResult] = Future()
        self._queue.put(_Pending(intake, future=future))
        return future

    async def accept(self, intake: Intake) -> IntakeResult:
        """Queue a unit and wait (without blocking the event loop) until it is committed.

        The writer answers all of one commit's waiters on a loop with one ``call_soon_threadsafe``, rather than
        one wake-up of the loop per request.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[IntakeResult] = loop.create_future()
        self._queue.put(_Pending(intake, loop=loop, waiter=waiter))
        return await waiter

    def run(self, stop: threading.Event) -> None:
        """Commit groups until ``stop`` is set and the queue is empty."""
        while True:
            try:
                first = self._queue.get(timeout=0.2)
            except queue.Empty:
                if stop.is_set():
                    return
                continue
            group = [first]
            size = first.intake.size
            # Gather what arrives within a couple of milliseconds: one commit then answers all of them.
            until = time.monotonic() + self._gather_s
            while size < self._max_group_items:
                left = until - time.monotonic()
                try:
                    more = self._queue.get(timeout=left) if left > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                group.append(more)
                size += more.intake.size
            self._commit(group)

    def _commit(self, group: list[_Pending]) -> None:
        live = [p for p in group if p.start()]
        if not live:
            return
        answers: list[tuple[_Pending, IntakeResult | None, BaseException | None]]
        try:
            results = self._store([p.intake for p in live])
        except IntegrityError:
            # Still conflicting after retries: commit one by one so one bad unit cannot fail the others.
            answers = []
            for pending in live:
                try:
                    (result,) = self._store([pending.intake])
                    answers.append((pending, result, None))
                except Exception as exc:
                    answers.append((pending, None, _as_unavailable(exc)))
            _answer(answers)
            self._notify()
            return
        except Exception as exc:
            log.warning("intake commit failed", extra={"error": repr(exc), "units": len(live)})
            _answer([(pending, None, _as_unavailable(exc)) for pending in live])
            return
        _answer([(pending, result, None) for pending, result in zip(live, results, strict=True)])
        self._notify()

    def _store(self, units: list[Intake]) -> list[IntakeResult]:
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                with transaction(self._sessions) as session:
                    return accept_intake(session=session, units=units, idempotency_ttl_s=self._idempotency_ttl_s)
            except IntegrityError:
                # Another writer (a replica, the importer, a poller) stored one of these keys between our
                # check and our insert: look again, they are duplicates now.
                if attempt == COMMIT_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _notify(self) -> None:
        if self._on_commit is not None:
            self._on_commit()


def _answer(answers: list[tuple[_Pending, IntakeResult | None, BaseException | None]]) -> None:
    """Resolve the futures of threaded callers; hand each event loop its waiters' answers in one call."""
    by_loop: dict[asyncio.AbstractEventLoop,
                  list[tuple[asyncio.Future[IntakeResult], IntakeResult | None, BaseException | None]]] = {}
    for pending, result, exc in answers:
        if pending.future is not None:
            if exc is not None:
                pending.future.set_exception(exc)
            else:
                pending.future.set_result(result)  # type: ignore[arg-type]
        elif pending.loop is not None and pending.waiter is not None:
            by_loop.setdefault(pending.loop, []).append((pending.waiter, result, exc))
    for loop, waiting in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle, waiting)
        except RuntimeError:
            log.debug("intake answers for a closed event loop dropped", extra={"units": len(waiting)})


def _as_unavailable(exc: Exception) -> Exception:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, SQLAlchemyError):
        return StorageUnavailable("the raw store is unavailable; nothing was stored, retry later",
                                  headers={"Retry-After": "5"})
    return exc
