"""Ops endpoints every service exposes: ``/healthz``, ``/readyz`` and ``/metrics``.

``/readyz`` and ``/metrics`` run the same readiness checks: a scrape records each dependency's state in
``lp_dependency_up``, so readiness has a history and can be alerted on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Literal

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from shared.observability.metrics import DEPENDENCY_UP

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], None]
"""Returns when a dependency is usable; raises (any exception, with a useful message) when it is not."""


def require(condition: bool, reason: str) -> None:
    """A readiness check body: raise with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise RuntimeError(reason)


def evaluate(service: str, checks: Mapping[str, ReadinessCheck]) -> dict[str, str]:
    """Run every check: ``ok`` or ``failing: reason`` by name; each result is also set in ``lp_dependency_up``."""
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:
            results[name] = f"failing: {exc}"[:300]
        DEPENDENCY_UP.labels(service, name).set(1 if results[name] == "ok" else 0)
    return results


class Readiness(BaseModel):
    """The answer of ``/readyz``."""

    status: Literal["ready", "not_ready"]
    service: str
    checks: dict[str, str] = Field(description="Each dependency: `ok` or `failing: reason`.")


def ops_router(service: str, checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """The ops endpoints, with the readiness checks the service names (database, broker, model...)."""
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    readiness = {"description": "Whether each dependency answers", "model": Readiness}

    @router.get("/readyz", summary="Every dependency answers; 503 names the failing ones",
                responses={200: readiness, 503: readiness})
    def readyz() -> JSONResponse:
        results = evaluate(service, checks())
        ready = all(v == "ok" for v in results.values())
        body = {"status": "ready" if ready else "not_ready", "service": service, "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics (text format 0.0.4)", response_class=Response,
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
    def metrics() -> Response:
        try:
            evaluate(service, checks())
        except Exception:  # the runtime is not started (or stopping): metrics still answer
            log.debug("readiness checks unavailable for the scrape", exc_info=True)
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
