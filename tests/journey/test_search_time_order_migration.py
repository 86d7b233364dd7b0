"""Revision 0012 on a store that already holds voices: SQLite's search index is keyed by when each voice happened,
kept in step as voices are added, changed and removed, and a downgrade restores the index by arrival."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.exc import IntegrityError

from services.catalog import MIGRATIONS
from services.journey.models import FeedbackItem
from services.reporting.feedback.search import ITEM_BITS, SqliteTextIndex, parse, text_index
from shared.db import alembic_config, create_db_engine, make_session_factory
from tests.conftest import Database

DAY = datetime(2026, 9, 14, 8, tzinfo=UTC)
VOICES = [  # stored newest first: arrival order is the reverse of time order
    ("fb_o_3", "Parcel came late again", DAY + timedelta(days=2, seconds=0.5)),
    ("fb_o_2", "The parcel tracking page is down", DAY + timedelta(days=1)),
    ("fb_o_1", "Parcels lost twice", DAY),
]


def row(fid: str, body: str, at: datetime) -> dict[str, Any]:
    return {"feedback_id": fid, "event_id": f"e_{fid}", "customer_id": None, "provider": "typeform",
            "source": "survey", "kind": "aided", "text": body, "stage_id": "renew", "stage_confidence": 0.8,
            "stage_method": "model", "sentiment_label": "negative", "sentiment_score": -0.5,
            "sentiment_confidence": 0.9, "nps": None, "csat": None, "ces": None, "rating": None, "language": "en",
            "key_phrases": [], "redactions": [], "experiences": [], "extra": {}, "journey_map_version": 1,
            "model_version": "t", "occurred_at": at, "received_at": at, "stored_at": at}


def newest(engine: Engine, q: str) -> list[str]:
    with make_session_factory(engine)() as s:
        return [i.feedback_id for i in text_index(s).newest(s, [], parse(q), (None, None), 10)]


def index_keys(engine: Engine) -> tuple[list[int], list[int]]:
    """(the keys FTS5 holds for "parcel", the keys the items' times and rowids give), both sorted."""
    with engine.connect() as conn:
        held = sorted(conn.scalars(text("SELECT rowid FROM feedback_search WHERE feedback_search MATCH 'parcel'")))
        expected = sorted(conn.scalars(select(SqliteTextIndex.item_key())))
    return held, expected


def test_the_index_is_keyed_by_time_kept_in_step_and_restored_by_a_downgrade(database: Database) -> None:
    url = database.url_for("journey")
    config = alembic_config("journey", MIGRATIONS["journey"], url)
    command.upgrade(config, "0011")
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(FeedbackItem), [row(*v) for v in VOICES])
    command.upgrade(config, "0012")
    assert newest(engine, "parcel") == ["fb_o_3", "fb_o_2", "fb_o_1"]  # stemmed: "Parcels" too
    sqlite = database.url is None
    if sqlite:
        held, expected = index_keys(engine)
        assert held == expected
        assert [k >> ITEM_BITS for k in held] == [int(at.timestamp()) for *_, at in reversed(VOICES)]

    # Kept in step: a new voice, a voice moved in time, a removed voice.
    with engine.begin() as conn:
        conn.execute(insert(FeedbackItem), [row("fb_o_4", "Parcel fine", DAY - timedelta(days=1))])
        conn.execute(update(FeedbackItem).where(FeedbackItem.feedback_id == "fb_o_1")
                     .values(occurred_at=DAY + timedelta(days=3)))
        conn.execute(delete(FeedbackItem).where(FeedbackItem.feedback_id == "fb_o_2"))
    assert newest(engine, "parcel") == ["fb_o_1", "fb_o_3", "fb_o_4"]
    assert newest(engine, "tracking") == []
    if sqlite:
        held, expected = index_keys(engine)
        assert held == expected

    command.downgrade(config, "0011")
    assert newest_by_arrival(engine, "parcel") == {"fb_o_1", "fb_o_3", "fb_o_4"}
    command.upgrade(config, "head")
    assert newest(engine, "parcel") == ["fb_o_1", "fb_o_3", "fb_o_4"]
    engine.dispose()


def newest_by_arrival(engine: Engine, q: str) -> set[str]:
    """The matches of revision 0003's index (its rowids are the items'), or of PostgreSQL's column."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            found = text("SELECT feedback_id FROM feedback_items WHERE rowid IN "
                         "(SELECT rowid FROM feedback_search WHERE feedback_search MATCH :q)")
        else:
            found = text("SELECT feedback_id FROM feedback_items "
                         "WHERE search_vector @@ phraseto_tsquery('lp_search'::regconfig, :q)")
        return set(conn.scalars(found, {"q": q}))


def test_sqlite_refuses_an_item_beyond_what_the_keys_can_name(tmp_path: Path) -> None:
    """The key's low 30 bits are the item's rowid: an item past them is refused, not indexed under another's key.
    SQLite whatever the suite's backend (PostgreSQL has no such key)."""
    url = Database(tmp_path, None).url_for("journey")
    command.upgrade(alembic_config("journey", MIGRATIONS["journey"], url), "head")
    engine = create_db_engine(url)
    columns = ", ".join(c.name for c in FeedbackItem.__table__.columns)
    with engine.begin() as conn:
        conn.execute(insert(FeedbackItem), [row(*VOICES[0])])
    with pytest.raises(IntegrityError, match="at most 2\\^30 items"), engine.begin() as conn:
        conn.exec_driver_sql(f"INSERT INTO feedback_items (rowid, {columns}) SELECT 1073741824, "  # noqa: S608
                             f"{columns.replace('feedback_id', quote('fb_o_big'), 1)} FROM feedback_items")
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM feedback_items")) == 1
    engine.dispose()


def quote(value: str) -> str:
    return f"'{value}'"
