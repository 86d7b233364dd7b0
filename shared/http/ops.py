"""Ops endpoints every service exposes: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], None]
"""Returns when a dependency is usable; raises (any exception, with a useful message) when it is not."""


def require(condition: bool, reason: str) -> None:
    """A readiness check body: raise with ``reason`` unless ``condition`` holds."""
    if not condition:
        raise RuntimeError(reason)


def ops_router(service: str, checks: Callable[[], Mapping[str, ReadinessCheck]]) -> APIRouter:
    """The ops endpoints, with the readiness checks the service names (database, broker, model...)."""
    router = APIRouter(tags=["ops"])

    @router.get("/healthz", summary="The process is alive")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @router.get("/readyz", summary="Every dependency answers; 503 names the failing ones")
    def readyz() -> JSONResponse:
        results: dict[str, str] = {}
        for name, check in checks().items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:
                results[name] = f"failing: {exc}"[:300]
        ready = all(v == "ok" for v in results.values())
        body = {"status": "ready" if ready else "not_ready", "service": service, "checks": results}
        return JSONResponse(body, status_code=200 if ready else 503)

    @router.get("/metrics", summary="Prometheus metrics", response_class=Response)
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
