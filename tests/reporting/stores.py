"""A story store filled with given enriched events, for reporting tests that compare reads with a hand count, and a
reporting API client over one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.cli.migrate import upgrade_schemas
from services.journey.alerts.service import AlertPolicy
from services.journey.settings import DEMO_JOURNEY_MAP
from services.journey.story.service import StoryContext, apply_enriched
from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from shared.contracts import CloudEvent, FeedbackEnriched, JourneyMap
from shared.db import create_db_engine, make_session_factory, transaction
from shared.settings import ServiceSettings
from tests.conftest import Database


def story_store(database: Database, voices: Sequence[CloudEvent[FeedbackEnriched]], *, batch: int = 120
                ) -> Iterator[sessionmaker[Session]]:
    """Sessions on a migrated story store holding ``voices``, applied as journey does, ``batch`` at a time (several
    batches make the rollups merge upserts); for a module fixture to yield from."""
    settings = ServiceSettings(data_dir=database.data_dir, database_url=database.url)
    upgrade_schemas(settings, ["journey"])
    engine = create_db_engine(settings.database_url_for("journey"))
    sessions = make_session_factory(engine)
    ctx = StoryContext(journey_map=JourneyMap.load(DEMO_JOURNEY_MAP), email_key=b"k", alerts=AlertPolicy(),
                       publish=False)
    for i in range(0, len(voices), batch):
        with transaction(sessions) as s:
            apply_enriched(session=s, events=voices[i:i + batch], ctx=ctx)
    yield sessions
    engine.dispose()


def reporting_client(database: Database, api_key: str, batches: Sequence[Sequence[CloudEvent[FeedbackEnriched]]]
                     ) -> Iterator[TestClient]:
    """A client of the reporting API (key ``api_key``) over a store journey filled with ``batches`` of voices, one
    transaction each, publishing as it does live; for a module fixture to yield from."""
    settings = ReportingSettings(data_dir=database.data_dir, database_url=database.url, api_key=api_key,
                                 identity_key="k")
    upgrade_schemas(settings, ["journey", "reporting"])
    engine = create_db_engine(settings.database_url_for("journey"))
    ctx = StoryContext(journey_map=JourneyMap.load(DEMO_JOURNEY_MAP), email_key=b"k", alerts=AlertPolicy())
    for batch in batches:
        with transaction(make_session_factory(engine)) as s:
            apply_enriched(session=s, events=list(batch), ctx=ctx)
    engine.dispose()
    with TestClient(create_app(settings)) as client:
        yield client
