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
    intake: Intake
    future: Future[IntakeResult]


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
        self._queue.put(_Pending(intake, future))
        return future

    async def accept(self, intake: Intake) -> IntakeResult:
        """Queue a unit and wait (without blocking the event loop) until it is committed."""
        return await asyncio.wrap_future(self.submit(intake))

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
        live = [p for p in group if p.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            results = self._store([p.intake for p in live])
        except IntegrityError:
            # Still conflicting after retries: commit one by one so one bad unit cannot fail the others.
            for pending in live:
                try:
                    (result,) = self._store([pending.intake])
                    pending.future.set_result(result)
                except Exception as exc:
                    pending.future.set_exception(_as_unavailable(exc))
            self._notify()
            return
        except Exception as exc:
            log.warning("intake commit failed", extra={"error": repr(exc), "units": len(live)})
            for pending in live:
                pending.future.set_exception(_as_unavailable(exc))
            return
        for pending, result in zip(live, results, strict=True):
            pending.future.set_result(result)
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


def _as_unavailable(exc: Exception) -> Exception:
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, SQLAlchemyError):
        return StorageUnavailable("the raw store is unavailable; nothing was stored, retry later",
                                  headers={"Retry-After": "5"})
    return exc
