"""The journey service: the one-company customer story, built from tagged feedback."""

from __future__ import annotations

from fastapi import FastAPI

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
        description="Owns the journey map and the story store: every tagged voice, by stage and by customer.",
        start=lambda: JourneyRuntime.start(settings),
        api_key=settings.api_key,
    )
    app.include_router(journey_map_router)
    return app
