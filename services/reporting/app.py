"""The reporting service: the customer story, read-only, for dashboards and people."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services.reporting.accountability.endpoints import router as accountability_router
from services.reporting.alerts.endpoints import router as alerts_router
from services.reporting.customers.endpoints import router as customers_router
from services.reporting.experiences.endpoints import router as experiences_router
from services.reporting.feedback.endpoints import router as feedback_router
from services.reporting.ledger.endpoints import router as ledger_router
from services.reporting.overview.endpoints import router as overview_router
from services.reporting.room.endpoints import STATIC
from services.reporting.room.endpoints import router as room_router
from services.reporting.runtime import ReportingRuntime
from services.reporting.settings import ReportingSettings
from services.reporting.stages.endpoints import router as stages_router
from shared.http import create_service_app
from shared.http.etag import ETagMiddleware


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    """Build the reporting ASGI app (uvicorn factory)."""
    settings = settings or ReportingSettings()

    app = create_service_app(
        service="reporting",
        title="Listening Path — reporting",
        description="The customer story for dashboards: tagged feedback, stage health, priority experiences, "
        "customers as assets, the asset ledger and alerts. "
        "Authenticate with `X-API-Key` or `Authorization: Bearer`.",
        start=lambda: ReportingRuntime.start(settings),
        error_statuses=(400, 403, 429),
        threads=settings.threads,
    )
    app.add_middleware(ETagMiddleware)
    app.mount("/room/static", StaticFiles(directory=STATIC), name="room-static")
    app.include_router(room_router)
    for router in (overview_router, feedback_router, stages_router, experiences_router, customers_router,
                   ledger_router, alerts_router, accountability_router):
        app.include_router(router)
    return app
