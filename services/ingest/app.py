"""The ingest service: feedback in, durably stored, published through the outbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.ingest.feedback.endpoints import router as feedback_router
from services.ingest.runtime import IngestRuntime
from services.ingest.settings import IngestSettings
from shared.bus import wait_for_broker
from shared.db import ping
from shared.http import create_service_app
from shared.http.ops import ReadinessCheck, require


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """Build the ingest ASGI app (uvicorn factory)."""
    settings = settings or IngestSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = IngestRuntime.start(settings)
        try:
            yield
        finally:
            app.state.runtime.stop()

    def checks() -> Mapping[str, ReadinessCheck]:
        runtime: IngestRuntime = app.state.runtime
        return {
            "database": lambda: ping(runtime.engine),
            "broker": lambda: wait_for_broker(settings.require_bootstrap(), timeout_s=1.0),
            "outbox_relay": lambda: require(runtime.relay_worker.alive, "relay thread stopped"),
        }

    app = create_service_app(
        service="ingest",
        title="Listening Path — ingest",
        description="Feedback from every channel in: validated, deduplicated, stored durably, then published.",
        checks=checks,
        lifespan=lifespan,
        api_key=settings.api_key,
        max_body_bytes=settings.max_body_bytes,
    )
    app.include_router(feedback_router)
    return app
