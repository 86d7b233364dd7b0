"""The hot path's multi-row insert: which rows went in, across statements, with and without conflicts."""

from __future__ import annotations

from typing import Any, cast

import pytest
from sqlalchemy import Table, select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.bulk import ROWS_PER_STATEMENT, RowWriter, stamp_for
from services.ingest.models import RawFeedback
from shared.contracts import utcnow
from shared.db import transaction

COLUMNS = ("id", "provider", "external_id", "kind", "source", "event_id", "normalised", "original", "occurred_at",
           "received_at")
ROWS = RowWriter(cast(Table, RawFeedback.__table__), COLUMNS, json_columns=("normalised", "original"),
                 fresh_key="id")


def _rows(session: Session, tag: str, external_ids: range) -> list[tuple[Any, ...]]:
    stamp = stamp_for(session.get_bind().dialect.name)(utcnow())
    return [(f"fb_{tag}_{n}", "bulk-test", f"ext-{n}", "aided", "survey", f"ev_{tag}_{n}", '{"text": "t"}', "{}",
             stamp, stamp) for n in external_ids]


def test_insert_new_reports_every_row_when_none_conflicts(sessions: sessionmaker[Session]) -> None:
    count = ROWS_PER_STATEMENT + 7  # two statements
    with transaction(sessions) as session:
        rows = _rows(session, "a", range(count))
        inserted = ROWS.insert_new(session, rows)
    assert inserted == {row[0] for row in rows}
    with sessions() as session:
        assert len(session.scalars(select(RawFeedback.id)).all()) == count


def test_insert_new_skips_stored_keys_and_reports_only_the_rows_that_went_in(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as session:
        ROWS.insert_new(session, _rows(session, "first", range(0, 600, 2)))  # the even external ids
    with transaction(sessions) as session:
        later = _rows(session, "second", range(700))  # conflicts on every even id below 600, in both statements
        inserted = ROWS.insert_new(session, later)
    expected = {row[0] for n, row in enumerate(later) if n % 2 or n >= 600}
    assert inserted == expected
    with sessions() as session:
        stored = dict(session.execute(select(RawFeedback.external_id, RawFeedback.id)).all())
    assert len(stored) == 700
    assert stored["ext-4"] == "fb_first_4"  # the first writer's row stays
    assert stored["ext-5"] == "fb_second_5"


def test_insert_new_needs_a_fresh_key() -> None:
    writer = RowWriter(cast(Table, RawFeedback.__table__), COLUMNS)
    with pytest.raises(TypeError):
        writer.insert_new(cast(Session, None), [])
