"""Full-text search (ranking, stemming, phrases, filters, cursors) and time-zone days (``tz``), over a real store."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from services.journey.models import FeedbackItem
from services.reporting.cache import ReportCache
from services.reporting.feedback.search import PostgresTextIndex, SqliteTextIndex, parse
from services.reporting.periods import Period, zone
from shared.contracts import CloudEvent, CustomerRef, FeedbackEnriched, FeedbackSource, SentimentLabel
from shared.db import create_db_engine
from tests.conftest import Database
from tests.factories import enriched_event
from tests.reporting.stores import reporting_client

KEY = "search-key-0123456789abcdef0123456"
AUTH = {"X-API-Key": KEY}
PARIS = "Europe/Paris"


def voice(text: str, at: datetime, *, stage: str | None = "renew", label: SentimentLabel = SentimentLabel.NEUTRAL,
          score: float = 0.0, phrases: Sequence[str] = (), provider: str = "typeform",
          source: FeedbackSource = FeedbackSource.SURVEY, customer: str | None = None, fid: str | None = None,
          ) -> CloudEvent[FeedbackEnriched]:
    """An enriched voice with exactly these tags."""
    base = enriched_event(stage=stage, sentiment=label, occurred_at=at, text=text, feedback_id=fid,
                          customer=CustomerRef(id=customer) if customer else None)
    data = base.data
    feedback = data.feedback.model_copy(update={"provider": provider, "source": source})
    tagged = data.model_copy(update={"feedback": feedback, "key_phrases": list(phrases),
                                     "sentiment": data.sentiment.model_copy(update={"score": score})})
    return base.model_copy(update={"data": tagged})


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# Around the spring daylight-saving change in Paris: 29 March 2026 runs from 23:00 UTC on the 28th to 22:00 UTC on
# the 29th (23 hours). The autumn change makes 25 October 2026 25 hours long (22:00 UTC on the 24th to 23:00 UTC
# on the 25th).
DST_VOICES = [
    voice("late on saturday in paris", utc(2026, 3, 28, 22, 30), fid="fb_dst_1"),       # 28 Mar 23:30 CET
    voice("just after midnight in paris", utc(2026, 3, 28, 23, 30), fid="fb_dst_2"),    # 29 Mar 00:30 CET
    voice("late on sunday in paris", utc(2026, 3, 29, 21, 30), fid="fb_dst_3"),         # 29 Mar 23:30 CEST
    voice("monday already in paris", utc(2026, 3, 29, 22, 30), fid="fb_dst_4"),         # 30 Mar 00:30 CEST
    voice("first hour of the long day", utc(2026, 10, 24, 22, 30), fid="fb_dst_5"),     # 25 Oct 00:30 CEST
    voice("last hour of the long day", utc(2026, 10, 25, 22, 30), fid="fb_dst_6"),      # 25 Oct 23:30 CET
    voice("the day after the long day", utc(2026, 10, 25, 23, 30), fid="fb_dst_7"),     # 26 Oct 00:30 CET
]
SEARCH_VOICES = [
    voice("The invoice total was wrong, the invoice total again wrong", utc(2026, 5, 4, 9), fid="fb_s_best",
          label=SentimentLabel.NEGATIVE, score=-0.9, phrases=["invoice total"], customer="C-1"),
    voice("My invoices never add up to the total I expect", utc(2026, 5, 5, 9), fid="fb_s_stem",
          label=SentimentLabel.NEGATIVE, score=-0.5, phrases=["invoice total"], provider="zendesk",
          source=FeedbackSource.SUPPORT),
    voice("Total confusion about the invoice layout, but the export is fine", utc(2026, 5, 6, 9), fid="fb_s_far",
          score=0.1, phrases=["invoice layout"]),
    voice("Great onboarding, no complaint about the invoice", utc(2026, 5, 7, 9), fid="fb_s_onb",
          stage="onboarding", label=SentimentLabel.POSITIVE, score=0.8, phrases=["great onboarding"]),
    voice("Café crème and résumé upload broke", utc(2026, 5, 8, 9), fid="fb_s_accent", score=-0.2),
] + [voice(f"invoice total number {i} for the pages test", utc(2026, 5, 10, i), fid=f"fb_s_page_{i:02d}",
           phrases=["invoice total"]) for i in range(12)]


@pytest.fixture(scope="module")
def client(module_database: Database) -> Iterator[TestClient]:
    # several batches: rollups merge upserts
    yield from reporting_client(module_database, KEY, [DST_VOICES, SEARCH_VOICES[:3], SEARCH_VOICES[3:]])


def ids(client: TestClient, **params: Any) -> list[str]:
    response = client.get("/v1/feedback", params={"limit": 100, **params}, headers=AUTH)
    assert response.status_code == 200, response.text
    return [i["id"] for i in response.json()["items"]]


# -- search -----------------------------------------------------------------------------------------------------


def test_search_ranks_the_best_match_first_and_finds_other_word_forms(client: TestClient) -> None:
    found = ids(client, q="invoice total", since="2026-05-01", until="2026-05-09")
    assert found[0] == "fb_s_best"  # both words, twice, side by side
    assert set(found) == {"fb_s_best", "fb_s_stem", "fb_s_far"}  # "invoices" is a form of "invoice"
    assert "fb_s_onb" not in found  # has "invoice" but not "total"


def test_search_phrases_exclusions_and_accents(client: TestClient) -> None:
    assert set(ids(client, q='"invoice total"', since="2026-05-01", until="2026-05-09")) == {"fb_s_best"}
    assert set(ids(client, q="invoice -total", since="2026-05-01", until="2026-05-09")) == {"fb_s_onb"}
    assert ids(client, q="cafe resume") == ["fb_s_accent"]  # diacritics do not matter
    assert ids(client, q="INVOICE, TOTAL!", since="2026-05-04", until="2026-05-04") == ["fb_s_best"]


def test_search_combines_with_every_filter(client: TestClient) -> None:
    base = {"q": "invoice", "since": "2026-05-01", "until": "2026-05-09"}
    assert set(ids(client, **base, stage="onboarding")) == {"fb_s_onb"}
    assert set(ids(client, **base, sentiment="negative")) == {"fb_s_best", "fb_s_stem"}
    assert set(ids(client, **base, source="support")) == {"fb_s_stem"}
    assert set(ids(client, **base, provider="zendesk")) == {"fb_s_stem"}
    assert set(ids(client, **base, customer="C-1")) == {"fb_s_best"}
    assert set(ids(client, **{**base, "until": "2026-05-05"})) == {"fb_s_best", "fb_s_stem"}


@pytest.mark.parametrize("sort", ["relevance", "newest"])
def test_search_pages_cover_every_match_once(client: TestClient, sort: str) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "invoice total", "limit": 4, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/feedback", params=params, headers=AUTH).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = ids(client, q="invoice total", sort=sort)
    assert seen == expected
    assert len(seen) == len(set(seen)) == 15  # three of May and twelve pages-test voices
    if sort == "relevance":
        assert seen[0] == "fb_s_best"
    else:
        assert seen[0] == "fb_s_page_11"


MAY = {"since": "2026-05-01", "until": "2026-05-10", "tz": "UTC"}
"""A period holding every "invoice total" voice, ending before other voices of the store."""


@pytest.mark.parametrize("period", [{}, MAY, {"stage": "renew"}], ids=["all-time", "period", "stage"])
def test_relevance_orders_the_newest_matches_when_there_are_more_than_the_bound(
        client: TestClient, module_database: Database, monkeypatch: pytest.MonkeyPatch, period: dict[str, str]) -> None:
    """SQLite ranks the newest matches (of the period and stage, if any); PostgreSQL, for a word its statistics call
    common, the matches among the newest voices (of the period and stage, if any), when those hold enough of them."""
    every = ids(client, q="invoice total", sort="newest", **period)
    assert len(every) == 15
    monkeypatch.setattr(SqliteTextIndex, "RANKED", 5)
    if module_database.url is None:
        expected = sorted(every[:5])
    else:
        engine = create_db_engine(module_database.url_for("journey"))
        with engine.begin() as connection:
            connection.execute(text("ANALYZE feedback_items"))  # the statistics the estimate reads
            times = list(connection.scalars(text(
                "SELECT occurred_at FROM feedback_items WHERE stage_id = 'renew' OR :all ORDER BY occurred_at DESC"),
                {"all": "stage" not in period}))
            found = (select(FeedbackItem.feedback_id, FeedbackItem.occurred_at)
                     .where(FeedbackItem.feedback_id.in_(every)))
            matched: dict[str, datetime] = {i: at for i, at in connection.execute(found)}  # noqa: C416 - rows, not pairs
        engine.dispose()
        if "since" in period:  # the window is counted back from the period's end, not from the newest voice of all
            period_end = utc(2026, 5, 11)
            assert times[0] >= period_end
            times = [at for at in times if at < period_end]
        # The smallest window of newest voices that holds five matches.
        window = next(n for n in range(1, len(times)) if sum(at >= times[n] for at in matched.values()) >= 5)
        expected = sorted(i for i, at in matched.items() if at >= times[window])
        assert 5 <= len(expected) < len(every)
        monkeypatch.setattr(PostgresTextIndex, "_window_size", lambda self, share: window)
        monkeypatch.setattr(PostgresTextIndex, "RANKED", 5)
        monkeypatch.setattr(PostgresTextIndex, "COMMON", 5)
        monkeypatch.setattr(PostgresTextIndex, "_boundaries", ReportCache(0))
        monkeypatch.setattr(PostgresTextIndex, "_estimates", ReportCache(0))
    def relevance_pages(limit: int) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"q": "invoice total", "limit": limit, **period,
                                      **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/feedback", params=params, headers=AUTH).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                assert len(seen) == len(set(seen))  # by relevance, each once
                return sorted(seen)

    assert relevance_pages(2) == expected
    assert ids(client, q="invoice total", sort="newest", **period) == every  # newest first still lists every match
    if module_database.url is not None:
        def grown(ranked: int) -> list[str]:
            """A window holding fewer than ``ranked`` matches (the first holds 5) is grown once by its shortfall;
            past the voices or the period's start, or when that one holds fewer too, every match is ranked."""
            size = math.ceil(window * ranked * PostgresTextIndex.SPARE / 5)
            start = utc(2026, 5, 1) if "since" in period else None
            if size >= len(times) or (start is not None and times[size] <= start):
                return sorted(every)
            kept = sorted(i for i, at in matched.items() if at >= times[size])
            return kept if len(kept) >= ranked else sorted(every)

        for ranked in (6, 16):
            monkeypatch.setattr(PostgresTextIndex, "RANKED", ranked)
            assert relevance_pages(4) == grown(ranked)
        assert grown(16) == sorted(every)
        # A word the statistics put under COMMON is ranked whole: the window is not looked at.
        monkeypatch.setattr(PostgresTextIndex, "COMMON", 10**9)
        assert sorted(ids(client, q="invoice total", **period)) == sorted(every)


def test_a_filter_the_window_is_not_counted_among_narrows_it_by_its_share(
        client: TestClient, module_database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sentiment keeps a share of each window's voices: PostgreSQL sizes the window by the term's share times the
    sentiment's (the planner's estimate), rather than finding the shortfall in a first window. Either way the
    search finds the same matches."""
    negative = ids(client, q="invoice total", sentiment="negative", sort="newest")
    assert sorted(negative) == ["fb_s_best", "fb_s_stem"]
    if module_database.url is not None:
        monkeypatch.setattr(PostgresTextIndex, "_estimates", ReportCache(0))  # none kept from before the ANALYZE
        engine = create_db_engine(module_database.url_for("journey"))
        with engine.begin() as connection:
            connection.execute(text("ANALYZE feedback_items"))
            stored = connection.scalar(text("SELECT count(*) FROM feedback_items"))
            negatives = connection.scalar(
                text("SELECT count(*) FROM feedback_items WHERE sentiment_label = 'negative'"))
        with Session(engine) as session:
            term_share, _, _ = PostgresTextIndex()._estimated_share(session, parse("invoice total"))
        engine.dispose()
        assert term_share > 0
        assert negatives
        shares: list[float] = []

        def record(index: PostgresTextIndex, share: float) -> int:
            shares.append(share)
            return 10**6  # past the first voice: the term is ranked whole

        monkeypatch.setattr(PostgresTextIndex, "_window_size", record)
        monkeypatch.setattr(PostgresTextIndex, "COMMON", 1)
        assert sorted(ids(client, q="invoice total", sentiment="negative")) == sorted(negative)
        assert shares == [pytest.approx(term_share * negatives / stored, rel=0.01)]
        shares.clear()
        assert ids(client, q="invoice total", stage="renew")  # a stage: the window is counted among its voices
        assert shares == [pytest.approx(term_share)]
    assert sorted(ids(client, q="invoice total", sentiment="negative")) == sorted(negative)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"q": "%_ !!"}, 400, "invalid_search"),
        ({"q": "-invoice"}, 400, "invalid_search"),
        ({"sort": "relevance"}, 400, "invalid_sort"),
        ({"sort": "loudest"}, 422, "validation_failed"),
    ],
)
def test_bad_searches_get_clear_errors(client: TestClient, params: dict[str, str], status: int, code: str) -> None:
    response = client.get("/v1/feedback", params=params, headers=AUTH)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_a_cursor_of_one_order_is_refused_in_the_other(client: TestClient) -> None:
    page = client.get("/v1/feedback", params={"q": "invoice total", "limit": 2}, headers=AUTH).json()
    other = client.get("/v1/feedback", params={"q": "invoice total", "limit": 2, "sort": "newest",
                                               "cursor": page["next_cursor"]}, headers=AUTH)
    assert other.status_code == 400
    assert other.json()["error"]["code"] == "invalid_cursor"


# -- stage phrases and their examples -------------------------------------------------------------------------------


def test_stage_phrases_carry_the_most_negative_and_the_newest_verbatim(client: TestClient) -> None:
    report = client.get("/v1/stages", params={"since": "2026-05-01", "until": "2026-05-31"}, headers=AUTH).json()
    renew = next(s for s in report["stages"] if s["id"] == "renew")
    top = renew["top_phrases"][0]
    assert (top["phrase"], top["count"], top["negative"]) == ("invoice total", 14, 2)
    assert top["examples"] == ["The invoice total was wrong, the invoice total again wrong",
                               "invoice total number 11 for the pages test"]


# -- time zones -----------------------------------------------------------------------------------------------------


def volume(client: TestClient, day: str, tz: str | None = None) -> int:
    params = {"since": day, "until": day, **({"tz": tz} if tz else {})}
    report = client.get("/v1/stages", params=params, headers=AUTH).json()
    return sum(s["volume"] for s in report["stages"])


def test_day_boundaries_follow_the_time_zone_across_daylight_saving_changes(client: TestClient) -> None:
    # The short day (23 h) in Paris holds voices 2 and 3; the UTC day of the same date holds 3 and 4.
    assert volume(client, "2026-03-29", PARIS) == 2
    assert volume(client, "2026-03-29") == 2
    assert set(ids(client, since="2026-03-29", until="2026-03-29", tz=PARIS)) == {"fb_dst_2", "fb_dst_3"}
    assert set(ids(client, since="2026-03-29", until="2026-03-29")) == {"fb_dst_3", "fb_dst_4"}
    assert volume(client, "2026-03-28", PARIS) == 1
    assert volume(client, "2026-03-30", PARIS) == 1
    # The long day (25 h) holds its first and last hour; the next day starts at 23:00 UTC.
    assert set(ids(client, since="2026-10-25", until="2026-10-25", tz=PARIS)) == {"fb_dst_5", "fb_dst_6"}
    assert volume(client, "2026-10-25", PARIS) == 2
    assert volume(client, "2026-10-26", PARIS) == 1
    assert volume(client, "2026-10-25", "America/New_York") == 2  # voices 6 and 7: 18:30 and 19:30 EDT


def test_period_instants_across_daylight_saving_changes() -> None:
    spring = Period(date(2026, 3, 29), date(2026, 3, 29), zone(PARIS))
    assert (spring.start(), spring.end()) == (utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))
    autumn = Period(date(2026, 10, 25), date(2026, 10, 25), zone(PARIS))
    assert (autumn.end() - autumn.start()).total_seconds() == 25 * 3600
    assert Period(date(2026, 3, 29), date(2026, 3, 29)).start() == utc(2026, 3, 29)


def test_overview_trends_and_experiences_use_the_time_zone(client: TestClient) -> None:
    params = {"since": "2026-03-29", "until": "2026-03-29", "tz": PARIS}
    overview = client.get("/v1/overview", params=params, headers=AUTH).json()
    assert overview["current"]["voices"]["volume"] == 2
    assert overview["current"]["tz"] == PARIS
    assert overview["previous"]["voices"]["volume"] == 1  # 28 March in Paris
    stages = client.get("/v1/stages", params=params, headers=AUTH).json()
    renew = next(s for s in stages["stages"] if s["id"] == "renew")
    assert renew["trend"][-1]["week_start"] == "2026-03-23"
    assert renew["trend"][-1]["volume"] == 3  # 23 to 29 March in Paris: voices 1, 2 and 3
    experiences = client.get("/v1/experiences", params=params, headers=AUTH).json()
    assert experiences["tz"] == PARIS
    clean = next(e for e in experiences["experiences"] if e["id"] == "clean-invoices")  # the whole renew stage
    assert clean["volume"] == 2
    accounted = client.get("/v1/experiences", params={"since": "2026-05-04", "until": "2026-05-06", "tz": PARIS},
                           headers=AUTH).json()
    assert next(e for e in accounted["experiences"] if e["id"] == "clean-invoices")["volume"] == 3


@pytest.mark.parametrize("path", ["/v1/overview", "/v1/stages", "/v1/feedback", "/v1/experiences", "/v1/ledger"])
def test_an_unknown_time_zone_is_refused(client: TestClient, path: str) -> None:
    response = client.get(path, params={"tz": "Mars/Olympus_Mons"}, headers=AUTH)
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["code"] == "validation_failed"
    assert "Mars/Olympus_Mons" in str(body["details"])


def test_the_time_zone_is_documented_with_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/v1/stages"]["get"]["parameters"]}
    tz = params["tz"]
    assert "IANA" in tz["description"]
    assert tz["schema"]["default"] == "UTC"
    assert "Europe/Paris" in {e["value"] for e in tz["examples"].values()}


@pytest.mark.parametrize("sort", ["relevance", "newest"])
def test_a_stage_within_a_period_keeps_the_matches_both_keep(client: TestClient, sort: str) -> None:
    period = {"since": "2026-05-04", "until": "2026-05-09"}
    found = ids(client, q="invoice", stage="renew", sort=sort, **period)
    in_period = set(ids(client, q="invoice", sort=sort, **period))
    assert set(found) == in_period - {"fb_s_onb"} == {"fb_s_best", "fb_s_stem", "fb_s_far"}
    assert ids(client, q="invoice", stage="renew", sort=sort, since="2026-01-01", until="2026-01-31") == []
