"""The four services, what each is built from, and whose migrations it needs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.ingest.settings import IngestSettings
from services.journey.settings import JourneySettings
from services.nlp.settings import NlpSettings
from services.reporting.settings import ReportingSettings
from shared.settings import ServiceSettings

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class ServiceSpec:
    """One service: its settings, its ASGI app factory and the schemas it needs migrated."""

    name: str
    settings: type[ServiceSettings]
    app_factory: str
    needs_schemas: tuple[str, ...]
    startup_timeout_s: float = 60.0
    balance_connections: bool = False
    """With several worker processes, end keep-alive connections of a busier worker (``shared/http/balance.py``):
    for CPU-bound requests from few clients (reporting). Not ingest: its workers wait on the same database writer
    lock, and moving connections there only added reconnections (p99 of batches doubled in ``bench/ingest.py``)."""


MIGRATIONS = {
    "ingest": HERE / "ingest" / "migrations",
    "journey": HERE / "journey" / "migrations",
    "reporting": HERE / "reporting" / "migrations",
}
"""Schema owner → its Alembic history."""

SERVICES: dict[str, ServiceSpec] = {
    spec.name: spec
    for spec in (
        ServiceSpec("ingest", IngestSettings, "services.ingest.app:create_app", ("ingest",)),
        ServiceSpec("nlp", NlpSettings, "services.nlp.app:create_app", (), startup_timeout_s=300.0),
        ServiceSpec("journey", JourneySettings, "services.journey.app:create_app", ("journey",)),
        ServiceSpec("reporting", ReportingSettings, "services.reporting.app:create_app", ("journey", "reporting"),
                    balance_connections=True),
    )
}
