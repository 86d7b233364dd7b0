"""PostgreSQL's day index (journey migration 0013): a common term bounded in time (a period, or the window of newest
voices) is found day by day, then its phrases are checked on the row. It must find exactly what the plain index
finds. On SQLite (whose index is keyed by time already) the same searches must give the same voices too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from services.reporting.cache import ReportCache
from services.reporting.feedback.search import PostgresTextIndex, _day_query, _utc_day
from shared.contracts import SentimentLabel
from shared.db import create_db_engine
from tests.conftest import Database
from tests.reporting.stores import reporting_client
from tests.reporting.test_search_and_periods import AUTH, KEY, voice

MIDNIGHT = datetime(2026, 10, 9, tzinfo=UTC)
"""The voices happen on the five UTC days around this midnight, some a microsecond either side of it."""
TEXTS = ("the invoice total was wrong", "total mess: my invoice never arrived", "invoice sent, total fine",
         "the total of the invoice", "no bill at all")
VOICES = [voice(TEXTS[i % len(TEXTS)] + f" (voice {i})", MIDNIGHT + timedelta(hours=7 * (i - 8)), fid=f"fb_d_{i:02d}",
                label=SentimentLabel.NEGATIVE if i % 3 == 0 else SentimentLabel.NEUTRAL)
          for i in range(17)] + [
    voice("invoice total just before midnight", MIDNIGHT - timedelta(microseconds=1), fid="fb_d_before"),
    voice("invoice total at midnight", MIDNIGHT, fid="fb_d_at"),
]


@pytest.fixture(scope="module")
def client(module_database: Database) -> Iterator[TestClient]:
    yield from reporting_client(module_database, KEY, [VOICES])


def found(client: TestClient, **params: Any) -> list[str]:
    """Every voice a search finds, by relevance (pages of 3), each once."""
    seen: list[str] = []
    cursor = None
    while True:
        page = client.get("/v1/feedback", params={"limit": 3, **params, **({"cursor": cursor} if cursor else {})},
                          headers=AUTH)
        assert page.status_code == 200, page.text
        seen += [i["id"] for i in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            assert len(seen) == len(set(seen))
            return sorted(seen)


def test_days_are_utc_days_since_1970() -> None:
    assert _utc_day(datetime(1970, 1, 1, tzinfo=UTC)) == 0
    assert _utc_day(MIDNIGHT - timedelta(microseconds=1)) == 20734
    assert _utc_day(MIDNIGHT) == 20735
    assert _utc_day(datetime(1969, 12, 31, 23, tzinfo=UTC)) == -1
    assert _day_query(["invoic", "total"], 20735) == "'invoic@20735' & 'total@20735'"
    assert _day_query(["x.io/a'b", "c:\\d"], -1) == "'x.io/a''b@-1' & 'c:\\\\d@-1'"


def test_the_day_index_keys_each_lexeme_by_the_utc_day(client: TestClient, module_database: Database) -> None:
    """The database's keys are the ones the search asks for, on both sides of a UTC midnight and before 1970, and a
    lexeme that needs quoting (a quote, a backslash) is found."""
    day = {"q": "invoice total", "since": "2026-10-09", "until": "2026-10-09", "tz": "UTC"}
    expected = sorted(["fb_d_at", *(f"fb_d_{i:02d}" for i in range(8, 12) if i % len(TEXTS) != 4)])
    assert found(client, **day) == expected
    # SQLite keys the voice of 23:59:59.999999 under midnight (it rounds to the millisecond): the day before has it.
    assert "fb_d_before" in found(client, **{**day, "since": "2026-10-08", "until": "2026-10-08"})
    for sort in ("newest", "relevance"):
        listed = client.get("/v1/feedback", params={**day, "sort": sort, "limit": 100}, headers=AUTH).json()
        assert sorted(i["id"] for i in listed["items"]) == expected
    if module_database.url is None:
        return
    engine = create_db_engine(module_database.url_for("journey"))
    cases = [("the invoice total", MIDNIGHT - timedelta(microseconds=1)), ("the invoice total", MIDNIGHT),
             ("invoice total", datetime(1969, 12, 31, 23, tzinfo=UTC)),
             ("see http://x.io/a'b and C:\\dir\\file", MIDNIGHT)]
    with engine.connect() as conn:
        for words, at in cases:
            keys = "lp_search_days(to_tsvector('lp_search'::regconfig, :words), :at)"
            lexemes = conn.scalars(text("SELECT unnest(tsvector_to_array(to_tsvector('lp_search'::regconfig, :w)))"),
                                   {"w": words}).all()
            assert lexemes
            for day, held in ((_utc_day(at), True), (_utc_day(at) + 1, False), (_utc_day(at) - 1, False)):
                assert conn.scalar(text(f"SELECT {keys} @@ CAST(:q AS tsquery)"),
                                   {"words": words, "at": at, "q": _day_query(lexemes, day)}) is held, (words, day)
        assert conn.scalar(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_feedback_items_search_days'"))
    engine.dispose()


@pytest.mark.parametrize("window", [9, 10**6])  # nine voices; or past the first voice: the term is ranked whole
@pytest.mark.parametrize("params", [
    {"since": "2026-10-08", "until": "2026-10-10", "tz": "UTC"},
    {"since": "2026-10-08", "until": "2026-10-09", "tz": "Asia/Kolkata"},
    {"sentiment": "negative", "since": "2026-10-07", "until": "2026-10-10", "tz": "UTC"},
    {"q": "\"invoice total\"", "since": "2026-10-07", "until": "2026-10-11", "tz": "UTC"},
    {"q": "invoice -mess", "since": "2026-10-07", "until": "2026-10-11", "tz": "UTC"},
    {},  # all time: the window of the newest voices
    {"sentiment": "negative"},
])
def test_a_common_term_bounded_in_time_finds_through_the_days_what_the_plain_index_finds(
        client: TestClient, module_database: Database, monkeypatch: pytest.MonkeyPatch, params: dict[str, str],
        window: int) -> None:
    query: dict[str, str] = {"q": "invoice total", **params}
    every = sorted(i["id"] for i in client.get("/v1/feedback", params={**query, "sort": "newest", "limit": 100},
                                               headers=AUTH).json()["items"])
    assert every
    if module_database.url is None:
        assert found(client, **query) == every
        return
    with create_db_engine(module_database.url_for("journey")).begin() as conn:
        conn.execute(text("ANALYZE feedback_items"))  # the term's share, which makes it common below
    for cache in ("_estimates", "_boundaries"):
        monkeypatch.setattr(PostgresTextIndex, cache, ReportCache(0))
    monkeypatch.setattr(PostgresTextIndex, "COMMON", 1)
    monkeypatch.setattr(PostgresTextIndex, "RANKED", 4)
    monkeypatch.setattr(PostgresTextIndex, "_window_size", lambda self, share: window)
    by_day: list[bool] = []
    matches = PostgresTextIndex._matches

    def spied(self: PostgresTextIndex, *args: Any) -> Any:
        conditions = matches(self, *args)
        by_day.append(any("lp_search_days" in str(c) for c in conditions))
        return conditions

    monkeypatch.setattr(PostgresTextIndex, "_matches", spied)
    through_days = found(client, **query)
    # The window's days, or the period's when it is ranked whole; all time ranked whole has no days to read, and
    # a sentiment is read through its own index with the plain one.
    assert any(by_day) == ("sentiment" not in params and ("since" in params or window < len(VOICES)))
    by_day.clear()
    monkeypatch.setattr(PostgresTextIndex, "DAYS_MAX", 0)  # the plain index, as before revision 0013
    assert found(client, **query) == through_days
    assert not any(by_day)
    assert set(through_days) <= set(every)
    if window > len(VOICES):  # ranked whole, within the period
        assert through_days == every


def test_a_stage_a_filter_or_a_rare_term_keeps_the_plain_index(client: TestClient, module_database: Database,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Among a stage's voices (spread over more days), with a filter that keeps a share of each day's matches (a
    sentiment), and for a term with few entries, the plain index reads less."""
    every = found(client, q="invoice total", stage="renew", since="2026-10-07", until="2026-10-11", tz="UTC")
    assert every
    if module_database.url is None:
        return
    with create_db_engine(module_database.url_for("journey")).begin() as conn:
        conn.execute(text("ANALYZE feedback_items"))  # the term is common (COMMON below): only the filters decide
    seen: list[str] = []
    matches = PostgresTextIndex._matches

    def spied(self: PostgresTextIndex, *args: Any) -> Any:
        conditions = matches(self, *args)
        seen.extend(str(c) for c in conditions)
        return conditions

    monkeypatch.setattr(PostgresTextIndex, "_matches", spied)
    monkeypatch.setattr(PostgresTextIndex, "_estimates", ReportCache(0))
    monkeypatch.setattr(PostgresTextIndex, "COMMON", 1)
    assert found(client, q="invoice total", stage="renew") == sorted(
        i["id"] for i in client.get("/v1/feedback", params={"q": "invoice total", "stage": "renew", "limit": 100,
                                                             "sort": "newest"}, headers=AUTH).json()["items"])
    assert found(client, q="invoice total", sentiment="negative", since="2026-10-07", until="2026-10-11", tz="UTC")
    monkeypatch.setattr(PostgresTextIndex, "COMMON", 10**9)
    assert found(client, q="invoice total", since="2026-10-07", until="2026-10-11", tz="UTC")
    assert seen
    assert not any("lp_search_days" in s for s in seen)


@pytest.mark.parametrize("walk", [0.5, 2.0, 50.0])
@pytest.mark.parametrize("params", [{}, {"stage": "renew", "since": "2026-10-07", "until": "2026-10-11", "tz": "UTC"},
                                    {"sentiment": "negative"}, {"q": "invoice -mess"}])
def test_newest_first_a_common_term_walks_the_newest_voices_then_every_match(
        client: TestClient, module_database: Database, monkeypatch: pytest.MonkeyPatch, params: dict[str, str],
        walk: float) -> None:
    """PostgreSQL looks for a common term's newest matches among the newest voices first (``WALK`` times as many as
    its share promises); where they hold fewer than a page, every match is read. Pages are the same either way."""
    query: dict[str, str] = {"q": "invoice total", "sort": "newest", **params}

    def pages(limit: int) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            at = {"cursor": cursor} if cursor else {}
            page = client.get("/v1/feedback", params={**query, "limit": limit, **at}, headers=AUTH).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                return seen

    every = pages(100)
    assert every
    if module_database.url is None:
        assert pages(2) == every
        return
    with create_db_engine(module_database.url_for("journey")).begin() as conn:
        conn.execute(text("ANALYZE feedback_items"))
    monkeypatch.setattr(PostgresTextIndex, "_estimates", ReportCache(0))
    monkeypatch.setattr(PostgresTextIndex, "COMMON", 10**9)  # rare: every match, as planned
    assert pages(2) == every
    monkeypatch.setattr(PostgresTextIndex, "COMMON", 1)
    monkeypatch.setattr(PostgresTextIndex, "WALK", walk)
    walked: list[int] = []
    scalars = Session.scalars

    def spied(self: Session, statement: Any, *args: Any, **kwargs: Any) -> Any:
        if "recent" in str(statement):
            walked.append(1)
        return scalars(self, statement, *args, **kwargs)

    monkeypatch.setattr(Session, "scalars", spied)
    assert pages(2) == every
    assert pages(3) == every
    assert walked
