"""Revision 0003 on a store that already holds voices: the search index and the rollup examples are filled in,
and a store rebuilt from scratch gets the same examples and a working index."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from alembic import command
from sqlalchemy import insert, text

from services.catalog import MIGRATIONS
from services.cli.migrate import upgrade_schemas
from services.journey.alerts.service import AlertPolicy
from services.journey.models import FeedbackItem
from services.journey.rebuild import apply_stream
from services.journey.settings import DEMO_JOURNEY_MAP
from services.journey.story.service import StoryContext
from services.reporting.feedback.search import parse, text_index
from shared.contracts import CloudEvent, FeedbackEnriched, JourneyMap, SentimentLabel
from shared.db import alembic_config, create_db_engine, make_session_factory
from shared.settings import ServiceSettings
from tests.conftest import Database
from tests.factories import enriched_event

DAY = datetime(2026, 9, 14, 8, tzinfo=UTC)
VOICES = [
    ("fb_m_1", "The invoice total was wrong", SentimentLabel.NEGATIVE, DAY),
    ("fb_m_2", "Invoices are fine now", SentimentLabel.POSITIVE, DAY + timedelta(hours=3)),
    ("fb_m_3", "Dashboard down again", SentimentLabel.NEGATIVE, DAY + timedelta(hours=5)),
]


def events() -> list[CloudEvent[FeedbackEnriched]]:
    return [enriched_event(stage="renew", sentiment=label, occurred_at=at, text=body, feedback_id=fid)
            for fid, body, label, at in VOICES]


def found(url: str, q: str) -> set[str]:
    engine = create_db_engine(url)
    with make_session_factory(engine)() as s:
        ids = {item.feedback_id for item in text_index(s).newest(s, [], parse(q), (None, None), 100)}
    engine.dispose()
    return ids


def phrase_rows(url: str) -> list[tuple[object, ...]]:
    engine = create_db_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(
            "SELECT stage_id, phrase, count, worst_id, newest_id FROM stage_day_phrases ORDER BY phrase"))]
    engine.dispose()
    return rows


def test_upgrading_a_store_with_voices_fills_the_index_and_the_examples(database: Database) -> None:
    url = database.url_for("journey")
    command.upgrade(alembic_config("journey", MIGRATIONS["journey"], url), "0002")
    engine = create_db_engine(url)
    with engine.begin() as conn:  # voices and their phrase rollup as revision 0002 stored them
        for fid, body, label, at in VOICES:
            conn.execute(insert(FeedbackItem), [{
                "feedback_id": fid, "event_id": f"e_{fid}", "customer_id": None, "provider": "typeform",
                "source": "survey", "kind": "aided", "text": body, "stage_id": "renew", "stage_confidence": 0.8,
                "stage_method": "model", "sentiment_label": label.value,
                "sentiment_score": -0.8 if label is SentimentLabel.NEGATIVE else 0.8, "sentiment_confidence": 0.9,
                "nps": None, "csat": None, "ces": None, "rating": None, "language": "en", "key_phrases": ["setup"],
                "redactions": [], "experiences": [], "extra": {}, "journey_map_version": 1, "model_version": "t",
                "occurred_at": at, "received_at": at, "stored_at": at}])
        conn.execute(text("INSERT INTO stage_day_phrases (day, stage_id, phrase, count, negative) "
                          "VALUES (:day, 'renew', 'setup', 3, 2)"), {"day": DAY.date()})
    engine.dispose()
    upgrade_schemas(ServiceSettings(data_dir=database.data_dir, database_url=database.url), ["journey"])
    assert found(url, "invoice") == {"fb_m_1", "fb_m_2"}  # stemmed: "Invoices" too
    assert found(url, "down again") == {"fb_m_3"}
    # the most negative (lowest score, then smallest id) and the newest
    assert phrase_rows(url) == [("renew", "setup", 3, "fb_m_1", "fb_m_3")]


def test_a_rebuilt_store_has_the_same_examples_and_a_working_index(database: Database) -> None:
    rebuilt = Database(database.data_dir / "rebuilt", None) if database.url is None else database
    rebuilt.data_dir.mkdir(exist_ok=True)
    url = rebuilt.url_for("journey")
    upgrade_schemas(ServiceSettings(data_dir=rebuilt.data_dir, database_url=rebuilt.url), ["journey"])
    sessions = make_session_factory(create_db_engine(url))
    jm = JourneyMap.load(DEMO_JOURNEY_MAP)
    batches = [list(reversed(events()))[:1], list(reversed(events()))[1:]]  # newest first, in two batches
    apply_stream(sessions, lambda _s: StoryContext(journey_map=jm, email_key=b"k", alerts=AlertPolicy(),
                                                  publish=False), batches, [])
    assert found(url, '"invoice total"') == {"fb_m_1"}
    assert phrase_rows(url) == [("renew", "setup", 3, "fb_m_1", "fb_m_3")]
