"""Searches with a phrase that half the voices or more hold ("parcel" in a parcel company's feedback): BM25 gives
such a phrase no weight, so SQLite ranks by the other phrases and only filters by it, without counting its voices
on every search; the matches, their order and their ranks stay FTS5's BM25 over the whole search."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from services.reporting.feedback.search import SearchQuery, SqliteTextIndex, parse
from shared.contracts import CloudEvent, CustomerRef, FeedbackEnriched
from tests.conftest import Database
from tests.factories import enriched_event
from tests.reporting.stores import reporting_client, story_store

KEY = "weighed-key-0123456789abcdef01234567"
AUTH = {"X-API-Key": KEY}
START = datetime(2026, 5, 4, 9, tzinfo=UTC)
TEXTS = {  # "parcel" in every voice; "late" in five of twelve (ranked); "spam" and "refund" in a few
    "fb_w_01": "parcel late late late",
    "fb_w_02": "parcel late",
    "fb_w_03": "parcel arrived late after a long long wait for the courier to show up at the door",
    "fb_w_04": "parcel refund came late",
    "fb_w_05": "parcel refund spam late again",
    "fb_w_06": "parcel fine",
    "fb_w_07": "parcel ok thanks",
    "fb_w_08": "parcel arrived on time",
    "fb_w_09": "parcel refund done quickly",
    "fb_w_10": "great parcel service",
    "fb_w_11": "parcel spam in my inbox",
    "fb_w_12": "parcel tracking works",
}
LATE = {"fb_w_01", "fb_w_02", "fb_w_03", "fb_w_04", "fb_w_05"}


CUSTOMER = {"fb_w_02", "fb_w_04", "fb_w_07"}  # C-7's voices


def voices() -> list[CloudEvent[FeedbackEnriched]]:
    return [enriched_event(text=body, feedback_id=fid, occurred_at=START + timedelta(minutes=i), stage="renew",
                           customer=CustomerRef(id="C-7") if fid in CUSTOMER else None)
            for i, (fid, body) in enumerate(TEXTS.items())]


@pytest.fixture(scope="module")
def client(module_database: Database) -> Iterator[TestClient]:
    yield from reporting_client(module_database, KEY, [voices()])


@pytest.fixture(scope="module")
def sqlite_sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker[Session]]:
    """The same voices in a SQLite store of their own (the weighing is SQLite's, whatever DATABASE_URL says)."""
    yield from story_store(Database(tmp_path_factory.mktemp("weighed"), None), voices())


def bm25(session: Session, query: SearchQuery) -> list[tuple[str, float]]:
    """(id, rank) of every match of ``query`` by FTS5's own BM25 over the whole search, most relevant first."""
    rows = session.execute(text(
        "SELECT i.feedback_id, s.rank FROM feedback_search s JOIN feedback_items i ON i.rowid = (s.rowid & :mask) "
        "WHERE feedback_search MATCH :q ORDER BY s.rank, s.rowid"),
        {"q": SqliteTextIndex.expression(query), "mask": (1 << 30) - 1})
    return [(fid, rank) for fid, rank in rows]


@pytest.mark.parametrize("q", ["parcel late", "late parcel -spam", '"parcel" late -"refund done"'])
def test_a_phrase_half_the_voices_hold_only_filters_and_the_ranking_stays_bm25(
        sqlite_sessions: sessionmaker[Session], q: str) -> None:
    query = parse(q)
    index = SqliteTextIndex()
    with sqlite_sessions() as s:
        assert index._weighed(s, query) == SearchQuery(("late",))  # "parcel" (12 of 12) weighs nothing
        expected = bm25(s, query)
        got = [(item.feedback_id, rank) for item, rank, _ in index.ranked(s, [], query, None, 50)]
    assert [fid for fid, _ in got] == [fid for fid, _ in expected]
    assert len(got) == (4 if "spam" in q else 5)
    for (_, mine), (_, fts5) in zip(got, expected, strict=True):
        assert mine == pytest.approx(fts5, abs=1e-5)  # "parcel" added 1e-6 per occurrence
    assert got[0][0] == "fb_w_01"  # "late" three times in four words


def test_without_a_common_phrase_the_search_is_ranked_as_typed(sqlite_sessions: sessionmaker[Session]) -> None:
    index = SqliteTextIndex()
    with sqlite_sessions() as s:
        for q in ("late refund", "parcel"):  # only informative phrases; only common ones: nothing to leave out
            assert index._weighed(s, parse(q)) == parse(q)
        assert [item.feedback_id for item, _, _ in index.ranked(s, [], parse("parcel"), None, 50)] == [
            fid for fid, _ in bm25(s, parse("parcel"))]


def test_weighed_relevance_pages_list_every_match_once_and_follow_the_filters(client: TestClient) -> None:
    def pages(**params: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            response = client.get("/v1/feedback", params={"limit": 2, **params, **(
                {"cursor": cursor} if cursor else {})}, headers=AUTH)
            assert response.status_code == 200, response.text
            seen += [i["id"] for i in response.json()["items"]]
            cursor = response.json()["next_cursor"]
            if cursor is None:
                return seen

    listed = pages(q="parcel late")
    assert sorted(listed) == sorted(LATE)
    assert listed[0] == "fb_w_01"
    assert sorted(pages(q="parcel late -spam")) == sorted(LATE - {"fb_w_05"})
    assert sorted(pages(q="parcel late", since="2026-05-04", until="2026-05-04", stage="renew")) == sorted(LATE)
    assert pages(q="parcel late", stage="onboarding") == []
    assert sorted(pages(q="parcel late", customer="C-7")) == sorted(LATE & CUSTOMER)  # a customer's few voices
