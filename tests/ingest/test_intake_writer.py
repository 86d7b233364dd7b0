"""The intake writer's group commit: every waiter of a commit is answered, after the commit, from one wake-up."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.feedback.schemas import FeedbackCreate
from services.ingest.intake.schemas import Intake, IntakeResult
from services.ingest.intake.writer import IntakeWriter
from services.ingest.models import OutboxMessage, RawFeedback


def _unit(n: int) -> Intake:
    return Intake(traceparent="", feedback=[FeedbackCreate(provider="writer-test", external_id=f"w-{n}",
                                                           text=f"words {n}")])


@pytest.fixture
def writer(sessions: sessionmaker[Session]) -> Iterator[IntakeWriter]:
    """A running writer on a fresh store."""
    w = IntakeWriter(sessions=sessions, gather_s=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=w.run, args=(stop,), daemon=True)
    thread.start()
    yield w
    stop.set()
    thread.join()


def _stored(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as session:
        return (int(session.scalar(select(func.count()).select_from(RawFeedback)) or 0),
                int(session.scalar(select(func.count()).select_from(OutboxMessage)) or 0))


def test_concurrent_waiters_are_all_answered_after_their_commit(writer: IntakeWriter,
                                                                 sessions: sessionmaker[Session]) -> None:
    async def main() -> list[IntakeResult]:
        return await asyncio.gather(*(writer.accept(_unit(n)) for n in range(40)))

    results = asyncio.run(main())
    assert [r.feedback[0].status for r in results] == ["accepted"] * 40
    assert len({r.feedback[0].id for r in results}) == 40
    # Every answered unit is in the raw store with its outbox row.
    assert _stored(sessions) == (40, 40)

    async def again() -> list[IntakeResult]:
        return await asyncio.gather(*(writer.accept(_unit(n)) for n in range(40)))

    repeats = asyncio.run(again())
    assert [r.feedback[0].status for r in repeats] == ["duplicate"] * 40
    assert [r.feedback[0].id for r in repeats] == [r.feedback[0].id for r in results]


def test_threaded_and_async_callers_share_a_group(writer: IntakeWriter, sessions: sessionmaker[Session]) -> None:
    async def main() -> tuple[list[IntakeResult], list[IntakeResult]]:
        futures = [writer.submit(_unit(100 + n)) for n in range(5)]
        waited = await asyncio.gather(*(writer.accept(_unit(n)) for n in range(5)))
        return waited, [f.result(timeout=30) for f in futures]

    waited, threaded = asyncio.run(main())
    assert all(r.feedback[0].status == "accepted" for r in waited + threaded)
    assert _stored(sessions) == (10, 10)


def test_a_failed_commit_fails_every_waiter(sessions: sessionmaker[Session]) -> None:
    writer = IntakeWriter(sessions=sessions)
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,), daemon=True)

    def broken(units: list[Intake]) -> list[IntakeResult]:
        raise RuntimeError("disk on fire")

    writer._store = broken  # type: ignore[method-assign]
    thread.start()

    async def main() -> list[BaseException | IntakeResult]:
        return await asyncio.gather(*(writer.accept(_unit(n)) for n in range(3)), return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
    finally:
        stop.set()
        thread.join()
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    assert _stored(sessions) == (0, 0)
