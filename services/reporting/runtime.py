"""The reporting service's long-lived parts: a read connection to the story store and the journey map."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from services.reporting.access.guard import Guard, db_lookup
from services.reporting.cache import ReportCache
from services.reporting.settings import ReportingSettings
from shared.contracts import JourneyMap
from shared.db import create_db_engine, make_session_factory, ping
from shared.http.ops import ReadinessCheck
from shared.interpreter import settle_collector


@dataclass
class ReportingRuntime:
    """Everything the reporting endpoints share."""

    settings: ReportingSettings
    journey_map: JourneyMap
    engine: Engine
    sessions: sessionmaker[Session]
    own_engine: Engine
    guard: Guard
    cache: ReportCache

    @classmethod
    def start(cls, settings: ReportingSettings) -> ReportingRuntime:
        """Open the story store (owned and migrated by journey) for reading, and the key store."""
        url = settings.database_url_for("journey")
        engine = create_db_engine(url, **({} if url.startswith("sqlite") else {"connect_args": {
            "options": f"-c max_parallel_workers_per_gather={settings.pg_parallel_workers}"}}))
        own_engine = create_db_engine(settings.database_url_for("reporting"))
        bootstrap = settings.api_key.get_secret_value() if settings.api_key else None
        guard = Guard(bootstrap_key=bootstrap or None, lookup=db_lookup(make_session_factory(own_engine)),
                      rate_limit=settings.rate_limit, storage_url=settings.rate_limit_storage)
        runtime = cls(settings, JourneyMap.load(settings.journey_map), engine, make_session_factory(engine),
                      own_engine, guard, ReportCache(settings.report_cache_s))
        settle_collector()
        return runtime

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """Dependencies ``/readyz`` checks."""
        return {
            "database": lambda: ping(self.engine),
            "key_store": lambda: ping(self.own_engine),
        }

    def stop(self) -> None:
        """Close connections."""
        self.engine.dispose()
        self.own_engine.dispose()
