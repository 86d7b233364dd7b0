"""Revision 0011 on a store that already holds voices: the quarter-hour rollups it backfills are the rows journey
writes as the same voices arrive, and a downgrade sums them back into the hour rollups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import Engine, MetaData, Table, insert, select

from services.catalog import MIGRATIONS
from services.cli.migrate import upgrade_schemas
from services.journey.alerts.service import AlertPolicy
from services.journey.models import FeedbackItem
from services.journey.rebuild import apply_stream
from services.journey.settings import DEMO_JOURNEY_MAP
from services.journey.story.service import StoryContext
from shared.contracts import JourneyMap, SentimentLabel
from shared.db import alembic_config, create_db_engine, make_session_factory
from shared.settings import ServiceSettings
from tests.conftest import Database
from tests.factories import enriched_event

EIGHT = datetime(2026, 9, 14, 8, tzinfo=UTC)
VOICES = [  # three quarter-hours of one hour, a second stage, and the next hour
    ("fb_q_1", "onboarding", SentimentLabel.NEGATIVE, EIGHT + timedelta(minutes=5)),
    ("fb_q_2", "onboarding", SentimentLabel.POSITIVE, EIGHT + timedelta(minutes=14, seconds=59)),
    ("fb_q_3", "onboarding", SentimentLabel.NEGATIVE, EIGHT + timedelta(minutes=15)),
    ("fb_q_4", "renew", SentimentLabel.NEUTRAL, EIGHT + timedelta(minutes=50)),
    ("fb_q_5", None, SentimentLabel.NEUTRAL, EIGHT + timedelta(minutes=70)),
]
QUARTERS = ("stage_quarters", "experience_quarters", "stage_quarter_phrases")


def rows(engine: Engine, names: tuple[str, ...]) -> dict[str, list[tuple[Any, ...]]]:
    """The tables' rows, read by reflection (instants as aware UTC: SQLite's reflected type reads them naive)."""
    def aware(value: Any) -> Any:
        return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value

    with engine.connect() as conn:
        return {name: sorted((tuple(aware(v) for v in r)
                              for r in conn.execute(select(Table(name, MetaData(), autoload_with=conn)))), key=repr)
                for name in names}


def live_store(data_dir: Path) -> Engine:
    """A store journey wrote as the voices arrived (SQLite, at the newest revision)."""
    data_dir.mkdir()
    upgrade_schemas(ServiceSettings(data_dir=data_dir, database_url=None), ["journey"])
    engine = create_db_engine(Database(data_dir, None).url_for("journey"))
    jm = JourneyMap.load(DEMO_JOURNEY_MAP)
    events = [enriched_event(stage=stage, sentiment=label, occurred_at=at, feedback_id=fid, text="Setup was slow.")
              for fid, stage, label, at in VOICES]
    apply_stream(make_session_factory(engine), lambda _s: StoryContext(journey_map=jm, email_key=b"k",
                                                                         alerts=AlertPolicy(), publish=False),
                 [events], [])
    return engine


def test_the_backfill_is_what_journey_writes_and_a_downgrade_sums_quarters_into_hours(database: Database,
                                                                                       tmp_path: Path) -> None:
    live = live_store(tmp_path / "live")
    expected = rows(live, QUARTERS)
    with live.connect() as conn:
        items = [dict(r._mapping) for r in conn.execute(select(FeedbackItem))]
    live.dispose()
    assert [q for q, *_ in expected["stage_quarters"]] == [EIGHT, EIGHT + timedelta(minutes=15),
                                                           EIGHT + timedelta(minutes=45), EIGHT + timedelta(hours=1)]

    url = database.url_for("journey")
    config = alembic_config("journey", MIGRATIONS["journey"], url)
    command.upgrade(config, "0010")
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(FeedbackItem), items)
    command.upgrade(config, "0011")
    assert rows(engine, QUARTERS) == expected

    command.downgrade(config, "0010")
    hours = rows(engine, ("stage_hours", "stage_hour_phrases"))
    # (hour, stage, volume, negative, neutral, positive, ...): the three onboarding voices in one row
    nine = EIGHT + timedelta(hours=1)
    assert [(h, stage, volume, neg, neu, pos) for h, stage, volume, neg, neu, pos, *_ in hours["stage_hours"]] == [
        (EIGHT, "onboarding", 3, 2, 0, 1), (EIGHT, "renew", 1, 0, 1, 0), (nine, "_none", 1, 0, 1, 0)]
    assert [(h, stage, phrase, count) for h, stage, phrase, count, _ in hours["stage_hour_phrases"]] == [
        (EIGHT, "onboarding", "setup", 3), (EIGHT, "renew", "setup", 1), (nine, "_none", "setup", 1)]
    command.upgrade(config, "head")
    assert rows(engine, QUARTERS) == expected
    engine.dispose()
