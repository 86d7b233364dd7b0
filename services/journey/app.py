"""The journey service: the one-company customer story, built from tagged feedback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.journey.journey_map.endpoints import router as journey_map_router
from services.journey.runtime import JourneyRuntime
from services.journey.settings import JourneySettings
from shared.bus import wait_for_broker
from shared.db import ping
from shared.http import create_service_app
from shared.http.ops import ReadinessCheck, require


def create_app(settings: JourneySettings | None = None) -> FastAPI:
    """Build the journey ASGI app (uvicorn factory)."""
    settings = settings or JourneySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = JourneyRuntime.start(settings)
        try:
            yield
        finally:
            app.state.runtime.stop()

    def checks() -> Mapping[str, ReadinessCheck]:
        runtime: JourneyRuntime = app.state.runtime
        return {
            "database": lambda: ping(runtime.engine),
            "broker": lambda: wait_for_broker(settings.require_bootstrap(), timeout_s=1.0),
            "consumer": lambda: require(runtime.consumer.running.is_set(), "consumer is not running"),
        }

    app = create_service_app(
        service="journey",
        title="Listening Path — journey",
        description="Owns the journey map and the story store: every tagged voice, by stage and by customer.",
        checks=checks,
        lifespan=lifespan,
        api_key=settings.api_key,
    )
    app.include_router(journey_map_router)
    return app
