"""The NLP service: sentiment, journey stage, language and key phrases for every item; PII redacted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI

from services.nlp.analysis.endpoints import router as analysis_router
from services.nlp.runtime import NlpRuntime
from services.nlp.settings import NlpSettings
from shared.bus import wait_for_broker
from shared.http import create_service_app
from shared.http.ops import ReadinessCheck, require


def create_app(settings: NlpSettings | None = None) -> FastAPI:
    """Build the NLP ASGI app (uvicorn factory)."""
    settings = settings or NlpSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = NlpRuntime.start(settings)
        try:
            yield
        finally:
            app.state.runtime.stop()

    def checks() -> Mapping[str, ReadinessCheck]:
        runtime: NlpRuntime = app.state.runtime
        return {
            "model": lambda: require(runtime.analyzer is not None, "model not loaded"),
            "broker": lambda: wait_for_broker(settings.require_bootstrap(), timeout_s=1.0),
            "consumer": lambda: require(runtime.consumer.running.is_set(), "consumer is not running"),
        }

    app = create_service_app(
        service="nlp",
        title="Listening Path — nlp",
        description="Tags feedback with sentiment and journey stage against the configured journey map.",
        checks=checks,
        lifespan=lifespan,
        api_key=settings.api_key,
        max_body_bytes=20_000_000,
    )
    app.include_router(analysis_router)
    return app
