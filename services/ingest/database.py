"""Opening the ingest database outside the service (the ``import`` and ``poll`` commands)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from services.ingest.settings import IngestSettings
from shared.db import create_db_engine, make_session_factory, upgrade
from shared.settings import RuntimeMode

MIGRATIONS = Path(__file__).parent / "migrations"


@contextmanager
def ingest_sessions(settings: IngestSettings) -> Iterator[sessionmaker[Session]]:
    """Sessions on the ingest database; in embedded mode its schema is migrated first (as ``serve`` does)."""
    url = settings.database_url_for("ingest")
    if settings.mode is RuntimeMode.EMBEDDED:
        upgrade("ingest", MIGRATIONS, url)
    engine = create_db_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()
