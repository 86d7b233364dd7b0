"""A service's blocking work runs on at most ``threads`` threads at once; the rest queue, none is refused."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.reporting.settings import ReportingSettings
from shared.http import create_service_app
from shared.http.ops import ReadinessCheck


class _Runtime:
    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        return {}

    def stop(self) -> None:
        return None


class _Gauge:
    """How many requests are inside the endpoint at once, at most."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.lock = threading.Lock()

    def enter(self) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1


def _app(threads: int | None, gauge: _Gauge) -> FastAPI:
    app = create_service_app(service="threads-test", title="t", description="t", start=_Runtime, threads=threads)

    @app.get("/work")
    def work() -> dict[str, int]:  # a plain def: FastAPI runs it on a worker thread
        gauge.enter()
        time.sleep(0.05)
        gauge.leave()
        return {"ok": 1}

    return app


@pytest.mark.parametrize(("threads", "most"), [(1, 1), (2, 2)])
def test_blocking_work_runs_on_at_most_the_configured_threads(threads: int, most: int) -> None:
    gauge = _Gauge()
    with TestClient(_app(threads, gauge)) as client, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.get("/work").status_code, range(8)))
    assert statuses == [200] * 8  # every request waited its turn and was answered
    assert gauge.most == most


def test_without_a_limit_requests_overlap() -> None:
    """The same load with anyio's default limiter: the gauge does see requests side by side."""
    gauge = _Gauge()
    with TestClient(_app(None, gauge)) as client, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.get("/work").status_code, range(8)))
    assert statuses == [200] * 8
    assert gauge.most > 2


def test_reporting_computes_one_request_per_process_unless_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LP_REPORTING_THREADS", raising=False)
    assert ReportingSettings().threads == 1
    monkeypatch.setenv("LP_REPORTING_THREADS", "4")
    assert ReportingSettings().threads == 4
