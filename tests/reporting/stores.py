"""A story store filled with given enriched events, for reporting tests that compare reads with a hand count."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy.orm import Session, sessionmaker

from services.cli.migrate import upgrade_schemas
from services.journey.alerts.service import AlertPolicy
from services.journey.settings import DEMO_JOURNEY_MAP
from services.journey.story.service import StoryContext, apply_enriched
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
