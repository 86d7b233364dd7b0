"""Revision 0010 on a store that already holds rollup rows: on SQLite the rollup tables are rebuilt in primary-key
order (``WITHOUT ROWID``) with every row, key and index kept, and a downgrade puts them back; PostgreSQL is left as
it is. Journey then goes on writing the rebuilt tables. (Revision 0011 replaced the hour tables by quarter-hour
ones: tests/journey/test_quarter_rollups_migration.py.)"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, Integer, MetaData, String, Table, column, insert, inspect, select, table, text
from sqlalchemy.exc import IntegrityError

from services.catalog import MIGRATIONS
from services.journey.models import AssetHour, StageDay, StageDayPhrase
from shared.db import UTCDateTime, alembic_config, create_db_engine
from tests.conftest import Database

ROLLUPS = ("stage_days", "experience_days", "stage_hours", "experience_hours", "stage_day_phrases",
           "stage_hour_phrases", "asset_days", "asset_hours")
HOUR = datetime(2026, 9, 14, 8, tzinfo=UTC)


def contents(engine: Engine) -> dict[str, list[tuple[object, ...]]]:
    with engine.connect() as conn:
        return {t: sorted((tuple(r) for r in conn.execute(select(Table(t, MetaData(), autoload_with=conn)))), key=repr)
                for t in ROLLUPS}


def without_rowid(engine: Engine) -> set[str]:
    """The rollup tables stored without a rowid (SQLite only)."""
    if engine.dialect.name != "sqlite":
        return set()
    with engine.connect() as conn:
        return {name for name, sql in conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'"))
                if name in ROLLUPS and sql.rstrip().upper().endswith("WITHOUT ROWID")}


def test_rollups_are_rebuilt_in_key_order_with_every_row(database: Database) -> None:
    url = database.url_for("journey")
    config = alembic_config("journey", MIGRATIONS["journey"], url)
    command.upgrade(config, "0009")
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(StageDay), [{"day": date(2026, 9, 14), "stage_id": s, "volume": 3, "negative": 1,
                                         "neutral": 1, "positive": 1, "worst_id": f"fb_{s}", "worst_score": -0.5}
                                        for s in ("buy", "renew")])
        conn.execute(insert(StageDayPhrase), [{"day": date(2026, 9, 14), "stage_id": "renew", "phrase": p,
                                               "count": 2, "negative": 1} for p in ("invoice total", "refund")])
        hour_phrases = table("stage_hour_phrases", column("hour", UTCDateTime()), column("stage_id", String()),
                             column("phrase", String()), column("count", Integer()), column("negative", Integer()))
        conn.execute(insert(hour_phrases), [{"hour": HOUR, "stage_id": "renew", "phrase": "refund", "count": 1,
                                             "negative": 0}])
        conn.execute(insert(AssetHour), [{"hour": HOUR, "state": "at_risk", "customers": 2, "value": 150.0}])
    before = contents(engine)
    assert without_rowid(engine) == set()

    command.upgrade(config, "0010")
    assert contents(engine) == before
    assert without_rowid(engine) == (set(ROLLUPS) if engine.dialect.name == "sqlite" else set())
    indexes = {ix["name"]: ix["column_names"] for ix in inspect(engine).get_indexes("stage_day_phrases")}
    assert indexes["ix_stage_day_phrases_pair_day"] == ["stage_id", "phrase", "day"]
    assert inspect(engine).get_pk_constraint("stage_day_phrases")["constrained_columns"] == ["day", "stage_id",
                                                                                             "phrase"]
    row = {"stage_id": "buy", "volume": 1, "negative": 0, "neutral": 1, "positive": 0}
    with engine.begin() as conn:  # new rows go in; the primary key still refuses a second row for a key
        conn.execute(insert(StageDay), [{**row, "day": date(2026, 9, 15)}])
        assert conn.scalar(select(StageDay.volume).where(StageDay.stage_id == "buy",
                                                         StageDay.day == date(2026, 9, 15))) == 1
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(insert(StageDay), [{**row, "day": date(2026, 9, 14)}])

    command.downgrade(config, "0009")
    after = contents(engine)
    assert {t: rows for t, rows in after.items() if t != "stage_days"} == \
        {t: rows for t, rows in before.items() if t != "stage_days"}
    assert len(after["stage_days"]) == 3
    assert without_rowid(engine) == set()
    engine.dispose()
