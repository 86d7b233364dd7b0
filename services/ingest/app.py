"""The ingest service: feedback in, durably stored, published through the outbox."""

from __future__ import annotations

from fastapi import FastAPI

from services.ingest.feedback.endpoints import router as feedback_router
from services.ingest.runtime import IngestRuntime
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.endpoints import router as webhooks_router
from shared.http import create_service_app


def create_app(settings: IngestSettings | None = None) -> FastAPI:
    """Build the ingest ASGI app (uvicorn factory)."""
    settings = settings or IngestSettings()

    app = create_service_app(
        service="ingest",
        title="Listening Path — ingest",
        description="Feedback and customer events from every channel in: signed webhooks, the generic API, pollers "
        "and bulk import; validated, deduplicated, stored durably, then published.",
        start=lambda: IngestRuntime.start(settings),
        api_key=settings.api_key,
        max_body_bytes=settings.max_body_bytes,
    )
    app.include_router(feedback_router)
    app.include_router(webhooks_router)
    return app
