"""The journey service: owns the journey map and the one-company customer story."""

from __future__ import annotations

from fastapi import FastAPI

from services.journey.identity.endpoints import router as merges_router
from services.journey.journey_map.endpoints import router as journey_map_router
from services.journey.runtime import JourneyRuntime
from services.journey.settings import JourneySettings
from shared.http import create_service_app


def create_app(settings: JourneySettings | None = None) -> FastAPI:
    """Build the journey ASGI app (uvicorn factory)."""
    settings = settings or JourneySettings()
    app = create_service_app(
        service="journey",
        title="Listening Path — journey",
        description="Owns the journey map (versioned) and the story store: every tagged voice by stage, "
        "priority experience and customer; customers as assets; alerts.",
        start=lambda: JourneyRuntime.start(settings),
        api_key=settings.api_key,
        admin_key=settings.admin_key,
    )
    app.include_router(journey_map_router)
    app.include_router(merges_router)
    return app
