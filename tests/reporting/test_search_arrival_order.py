"""Search over voices stored in any order (an old export imported after newer feedback): periods, newest-first pages
and relevance give what the voices' times say, not their arrival; on SQLite a period is a range of the index's
keys (journey migration 0012)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from services.journey.models import FeedbackItem
from services.reporting.feedback.search import ITEM_BITS, ITEM_MASK, KeyRange, SqliteTextIndex, in_period, parse
from shared.contracts import CloudEvent, CustomerRef, FeedbackEnriched
from tests.conftest import Database
from tests.factories import enriched_event
from tests.reporting.stores import reporting_client, story_store

KEY = "arrival-key-0123456789abcdef01234567"
AUTH = {"X-API-Key": KEY}
MIDNIGHT = datetime(2026, 4, 10, tzinfo=UTC)
KOLKATA_MIDNIGHT = MIDNIGHT - timedelta(hours=5, minutes=30)


def at(seconds: float) -> datetime:
    return MIDNIGHT + timedelta(seconds=seconds)


# Times around the edges of 10 April (UTC and Asia/Kolkata, +05:30), several voices in one instant (ties broken
# by id) or one second, parts of seconds; every voice matches "parcel".
TIMES = {
    "fb_t_01": at(-3600), "fb_t_02": at(-0.5), "fb_t_03": at(0), "fb_t_04": at(0.25), "fb_t_05": at(0.75),
    "fb_t_06": at(1), "fb_t_07": at(600), "fb_t_08": at(600), "fb_t_09": at(600.5), "fb_t_10": at(43200),
    "fb_t_11": at(86399.999), "fb_t_12": at(86400), "fb_t_13": at(90000), "fb_t_14": at(90000),
    # Beyond the seconds a SQLite key holds (1697 to 2242): keyed at the nearer end, found by their times.
    "fb_t_15": datetime(2300, 1, 2, 3, 4, 5, tzinfo=UTC), "fb_t_16": datetime(1500, 6, 7, tzinfo=UTC),
}
NEWEST_FIRST = sorted(TIMES, key=lambda fid: (TIMES[fid], fid), reverse=True)
APRIL_10 = {"since": "2026-04-10", "until": "2026-04-10"}


def on_april_10(start: datetime) -> list[str]:
    """The voices of the day that begins at ``start``, newest first."""
    return [fid for fid in NEWEST_FIRST if start <= TIMES[fid] < start + timedelta(days=1)]


def arrivals() -> list[list[CloudEvent[FeedbackEnriched]]]:
    """The voices as journey gets them: in no particular time order, a few at a time."""
    order = list(TIMES)
    random.Random(7).shuffle(order)
    return [[enriched_event(stage="renew" if int(fid[-2:]) % 2 else "onboarding", occurred_at=TIMES[fid],
                            text=f"parcel {fid} arrived late", feedback_id=fid,
                            customer=CustomerRef(id="C-9") if int(fid[-2:]) % 3 == 0 else None)
             for fid in order[i:i + 3]] for i in range(0, len(order), 3)]


@pytest.fixture(scope="module")
def client(module_database: Database) -> Iterator[TestClient]:
    yield from reporting_client(module_database, KEY, arrivals())


def pages(client: TestClient, limit: int, **params: Any) -> list[str]:
    """Every id the search lists, following the cursor ``limit`` at a time."""
    seen: list[str] = []
    cursor = None
    while True:
        query = {"q": "parcel", "limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = client.get("/v1/feedback", params=query, headers=AUTH)
        assert response.status_code == 200, response.text
        seen += [i["id"] for i in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return seen


@pytest.mark.parametrize("limit", [1, 2, 3, 100])
def test_newest_first_pages_follow_the_voices_times_with_ties_by_id(client: TestClient, limit: int) -> None:
    assert pages(client, limit, sort="newest") == NEWEST_FIRST


@pytest.mark.parametrize("limit", [2, 100])
def test_a_day_keeps_exactly_its_voices_whatever_their_arrival(client: TestClient, limit: int) -> None:
    utc_day = on_april_10(MIDNIGHT)
    assert utc_day[0] == "fb_t_11"
    assert utc_day[-1] == "fb_t_03"
    assert pages(client, limit, sort="newest", **APRIL_10) == utc_day
    assert sorted(pages(client, limit, **APRIL_10)) == sorted(utc_day)  # by relevance: each once
    kolkata_day = on_april_10(KOLKATA_MIDNIGHT)
    assert "fb_t_01" in kolkata_day
    assert "fb_t_11" not in kolkata_day
    assert pages(client, limit, sort="newest", tz="Asia/Kolkata", **APRIL_10) == kolkata_day
    assert sorted(pages(client, limit, tz="Asia/Kolkata", **APRIL_10)) == sorted(kolkata_day)


def test_filters_and_a_customer_combine_with_the_period(client: TestClient) -> None:
    renew = [fid for fid in on_april_10(MIDNIGHT) if int(fid[-2:]) % 2]
    assert pages(client, 2, sort="newest", stage="renew", **APRIL_10) == renew
    assert sorted(pages(client, 2, stage="renew", **APRIL_10)) == sorted(renew)
    customer = [fid for fid in NEWEST_FIRST if int(fid[-2:]) % 3 == 0]
    assert pages(client, 2, sort="newest", customer="C-9") == customer
    assert sorted(pages(client, 2, customer="C-9")) == sorted(customer)
    in_day = [fid for fid in customer if fid in on_april_10(MIDNIGHT)]
    assert pages(client, 2, sort="newest", customer="C-9", **APRIL_10) == in_day
    assert pages(client, 2, customer="C-9", since="2026-01-01", until="2026-01-31") == []


def test_voices_beyond_the_keys_years_are_found_by_their_times(client: TestClient) -> None:
    for sort in ("newest", "relevance"):
        assert pages(client, 2, sort=sort, since="2300-01-01", until="2300-12-31") == ["fb_t_15"]
        assert pages(client, 2, sort=sort, since="2243-01-01", until="2299-12-31") == []
        assert pages(client, 2, sort=sort, since="2200-01-01", until="2300-01-01") == []
        assert pages(client, 2, sort=sort, since="1500-06-07", until="1500-06-07") == ["fb_t_16"]
        assert pages(client, 2, sort=sort, since="0100-01-01", until="1500-06-06") == []
    before = [fid for fid in NEWEST_FIRST if TIMES[fid] < MIDNIGHT and fid != "fb_t_16"]
    assert pages(client, 2, sort="newest", since="1500-06-08", until="2026-04-09") == before
    assert sorted(pages(client, 2, since="1500-06-08", until="2026-04-09")) == sorted(before)


def test_relevance_over_more_than_the_bound_ranks_the_newest_matches(client: TestClient,
                                                                     module_database: Database,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite ranks the newest ``RANKED`` matches; PostgreSQL ranks every match of a word its statistics do not
    call common (its window is tested in test_search_and_periods)."""
    monkeypatch.setattr(SqliteTextIndex, "RANKED", 4)
    expected = NEWEST_FIRST[:4] if module_database.url is None else NEWEST_FIRST
    assert sorted(pages(client, 3)) == sorted(expected)


def test_key_ranges_are_exact_on_whole_seconds_and_cover_a_part_second() -> None:
    second = int(MIDNIGHT.timestamp())
    # Whole seconds: up to the end's second, whose voices (keyed there from the half-millisecond before the end) and
    # the first second's are checked.
    hour = (MIDNIGHT, at(3600))
    assert KeyRange.of(hour) == KeyRange(second << ITEM_BITS, ((second + 3600) << ITEM_BITS) | ITEM_MASK, True, hour)
    assert KeyRange.of(hour).inner() == ((second + 1) << ITEM_BITS, ((second + 3600) << ITEM_BITS) - 1)
    part = KeyRange.of((None, at(0.5)))
    assert part == KeyRange(None, ((second + 1) << ITEM_BITS) | ITEM_MASK, False)
    assert KeyRange.of((None, None)) == KeyRange(None, None, True)
    # Beyond the keys' seconds: the range reaches the end of the keys and is not exact (times are checked).
    far = KeyRange.of((datetime(2300, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC)))
    assert far == KeyRange(((1 << 33) - 1) << ITEM_BITS, (1 << 63) - 1, False)
    early = KeyRange.of((datetime(1, 1, 2, tzinfo=UTC), datetime(1600, 1, 1, tzinfo=UTC)))
    assert early == KeyRange(-(1 << 63), -(1 << 63) + (1 << ITEM_BITS) - 1, False)
    assert KeyRange(5, 10).within(7, None) == KeyRange(7, 10)
    assert KeyRange(None, 10).within(None, 8) == KeyRange(None, 8)


def test_sqlite_reads_a_period_as_a_range_of_the_index_in_its_order(tmp_path: Path) -> None:
    """The plan: FTS5 gets the match and both ends of the key range, and hands out keys in order (no sort). On
    SQLite whatever the suite's backend: the plan is FTS5's."""
    sessions = story_store(Database(tmp_path, None), [v for batch in arrivals() for v in batch], batch=3)
    index = SqliteTextIndex()
    with next(sessions)() as s:
        day = (MIDNIGHT, at(86400))
        keys = KeyRange.of(day)
        for where in ([], [FeedbackItem.stage_id == "renew"]):
            stmt = index._hits(s, where, parse("parcel"), keys, few=False, columns=[index.key])
            stmt = stmt.order_by(index.key.desc()).limit(3)
            sql = str(stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
            plan = [str(row[3]) for row in s.execute(text("EXPLAIN QUERY PLAN " + sql))]
            (fts,) = [step for step in plan if "feedback_search VIRTUAL TABLE" in step]
            assert set("M><") <= set(fts.split(":", 1)[1]), plan  # FTS5's index string: match, rowid range
            assert not any("TEMP B-TREE" in step for step in plan), plan
            in_range = list(s.scalars(select(index.item_key()).where(*where, *in_period(day))))
            assert len(in_range) > 3
            assert list(s.scalars(stmt)) == sorted(in_range, reverse=True)[:3]
    assert next(sessions, None) is None  # the store's engine disposed of
