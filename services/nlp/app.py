"""The NLP service: sentiment, journey stage, language and key phrases for every item; PII redacted."""

from __future__ import annotations

from fastapi import FastAPI

from services.nlp.analysis.endpoints import router as analysis_router
from services.nlp.runtime import NlpRuntime
from services.nlp.settings import NlpSettings
from shared.http import create_service_app


def create_app(settings: NlpSettings | None = None) -> FastAPI:
    """Build the NLP ASGI app (uvicorn factory)."""
    settings = settings or NlpSettings()

    app = create_service_app(
        service="nlp",
        title="Listening Path — nlp",
        description="Tags feedback with sentiment and journey stage against the configured journey map.",
        start=lambda: NlpRuntime.start(settings),
        api_key=settings.api_key,
        max_body_bytes=20_000_000,
    )
    app.include_router(analysis_router)
    return app
