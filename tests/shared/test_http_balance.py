"""Keep-alive connections follow the load: a worker busier than another by the margin ends the connection."""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from starlette.types import ASGIApp, Receive, Scope, Send

from shared.bus import free_port
from shared.http import create_service_app
from shared.http.balance import (
    AVERAGE_S,
    COOLDOWN_S,
    MARGIN,
    SLOTS,
    WORKER_LOAD_ENV,
    ConnectionBalancer,
    LoadTable,
    create_table_file,
    join,
)
from shared.http.ops import ReadinessCheck
from shared.process import stop_process
from tests.polling import wait_for


class _Runtime:
    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        return {}

    def stop(self) -> None:
        return None


@pytest.fixture
def other_pid() -> Iterator[int]:
    """A live process standing for another worker."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def table_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    path = create_table_file()
    assert path.parent == tmp_path
    assert path.stat().st_size == SLOTS * 4 * 8
    return path


class _Clock:
    """Monotonic nanoseconds that move only when told."""

    def __init__(self) -> None:
        self.now = 10**12

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


def test_a_worker_ends_a_connection_when_its_load_stays_above_the_least_loaded_other(table_file: Path,
                                                                                    other_pid: int) -> None:
    clock = _Clock()
    mine, other = LoadTable(table_file, clock=clock), LoadTable(table_file, pid=other_pid, clock=clock)
    assert (mine.slot, other.slot) == (0, 1)
    assert mine.least_other() == 0
    assert not mine.should_end_connection()
    mine.enter()
    mine.enter()
    assert mine.load() == 0  # a moment's count is not a load yet
    assert not mine.should_end_connection()
    clock.advance(AVERAGE_S)
    assert mine.load() == pytest.approx(2 * (1 - math.exp(-1)))
    assert not mine.should_end_connection()  # 1.26 against 0: below the margin
    clock.advance(3 * AVERAGE_S)
    assert mine.load() - other.load() >= MARGIN
    assert mine.should_end_connection()
    assert not other.should_end_connection()
    assert not mine.should_end_connection()  # one connection per cooldown
    clock.advance(COOLDOWN_S)
    assert mine.should_end_connection()
    other.enter()
    clock.advance(10 * AVERAGE_S)
    assert not mine.should_end_connection()  # 2 against 1
    mine.close()
    assert other.least_other() is None  # the slot was given back
    other.close()


def test_a_worker_past_the_last_slot_runs_unbalanced(table_file: Path, other_pid: int) -> None:
    cells = memoryview(bytearray(table_file.read_bytes())).cast("q")
    for slot in range(SLOTS):  # every slot held by a live process
        cells[4 * slot] = other_pid
    table_file.write_bytes(cells.tobytes())
    assert join(table_file) is None


def test_the_slot_of_a_worker_that_died_is_reused_and_never_counts(table_file: Path, other_pid: int) -> None:
    clock = _Clock()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    mine = LoadTable(table_file, clock=clock)
    ghost = LoadTable(table_file, pid=dead.pid, clock=clock)  # claimed; its process is gone without giving it back
    mine.enter()
    mine.enter()
    clock.advance(10 * AVERAGE_S)
    assert not mine.should_end_connection()  # the dead worker's idle slot is no worker to give connections to
    assert mine.least_other() is None
    assert LoadTable(table_file, pid=other_pid).slot == ghost.slot  # and the next worker takes it
    mine.close()


class _TwoTogether:
    """A raw ASGI app whose requests start their responses only when two are in progress, and send their bodies
    only when both have started: the balancer's check sees both requests, whatever the event loop's order."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.entered = 0
        self.started = 0
        self.both_in = asyncio.Event()
        self.both_started = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.entered += 1
        if self.entered % 2 == 0:
            self.clock.advance(10 * AVERAGE_S)  # both stay in progress long enough to be the worker's load
            self.both_in.set()
        await self.both_in.wait()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        self.started += 1
        if self.started % 2 == 0:
            self.both_started.set()
        await self.both_started.wait()
        await send({"type": "http.response.body", "body": b"ok"})

    async def two_at_once(self, app: ASGIApp) -> list[str | None]:
        """The ``Connection`` header of two requests in progress together."""
        self.both_in.clear()
        self.both_started.clear()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://worker") as client:
            responses = await asyncio.gather(client.get("/"), client.get("/"))
        assert [r.text for r in responses] == ["ok", "ok"]
        return [r.headers.get("connection") for r in responses]


def test_a_busier_worker_ends_the_connections_of_its_responses(table_file: Path, other_pid: int) -> None:
    clock = _Clock()
    other = LoadTable(table_file, pid=other_pid, clock=clock)
    inner = _TwoTogether(clock)
    balancer = ConnectionBalancer(inner, LoadTable(table_file, clock=clock), service="balance-test")
    before = _rebalanced()

    async def scenario() -> None:
        # two in progress here, none there: one connection ends, the other only after the cooldown
        assert sorted(await inner.two_at_once(balancer), key=str) == [None, "close"]
        clock.advance(COOLDOWN_S)
        other.enter()
        assert await inner.two_at_once(balancer) == [None, None]  # two here, one there: within the margin

    asyncio.run(scenario())
    assert _rebalanced() == before + 1
    assert balancer.table.in_progress == 0
    other.close()


def _rebalanced() -> float:
    value = REGISTRY.get_sample_value("lp_http_connections_rebalanced_total", {"service": "balance-test"})
    return value or 0.0


def test_the_service_app_balances_only_when_serve_made_a_table(monkeypatch: pytest.MonkeyPatch,
                                                                table_file: Path) -> None:
    def balanced() -> bool:
        app = create_service_app(service="balance-test", title="t", description="t", start=_Runtime)
        return any(m.cls is ConnectionBalancer for m in app.user_middleware)

    monkeypatch.delenv(WORKER_LOAD_ENV, raising=False)
    assert not balanced()
    monkeypatch.setenv(WORKER_LOAD_ENV, str(table_file))
    assert balanced()


def test_serve_gives_its_workers_one_table_and_removes_it_on_stop(tmp_path: Path) -> None:
    """``serve reporting`` with two workers: both claim a slot of the table ``serve`` created; it is gone after."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    port = free_port()
    env = {**os.environ, "LP_DATA_DIR": str(tmp_path / "data"), "LP_PORT": str(port), "LP_API_KEY": "k" * 32,
           "LP_REPORTING_WORKERS": "2", "TMPDIR": str(tmp)}
    env.pop("DATABASE_URL", None)
    env.pop(WORKER_LOAD_ENV, None)
    with open(tmp_path / "reporting.log", "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli.main", "serve", "reporting"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: _claimed(tmp) == 2, timeout_s=90, what="both workers to claim a slot")
            # A worker claims its slot before its server listens (uvicorn's workers call listen() when they serve).
            assert wait_for(lambda: _healthz(port), timeout_s=30, what="reporting to answer") == 200
        finally:
            stop_process(proc, timeout_s=20)
    assert list(tmp.glob("listening-path-load-*")) == []


def _healthz(port: int) -> int | None:
    """``/healthz``'s status, or ``None`` while nothing listens."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10).status_code
    except httpx.ConnectError:
        return None


def _claimed(directory: Path) -> int:
    files = list(directory.glob("listening-path-load-*.bin"))
    if len(files) != 1:
        return 0
    cells = memoryview(files[0].read_bytes()).cast("q")
    return sum(1 for slot in range(SLOTS) if cells[4 * slot] != 0)
