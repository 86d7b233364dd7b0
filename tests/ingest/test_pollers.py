"""Pollers against a local server replaying each provider's documented responses: pagination, 429, 5xx, cursors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.models import PollCursor, RawFeedback
from services.ingest.pollers.cli import poll_command
from services.ingest.pollers.config import PollerConfigError, PollersConfig, SourceConfig, parse_duration
from services.ingest.pollers.scheduler import PollScheduler
from services.ingest.pollers.service import poll_once
from services.ingest.provider_api import ProviderApi, RetryPolicy
from services.ingest.settings import IngestSettings
from tests.conftest import Database
from tests.ingest.provider_server import FIXTURES, ProviderServer, Reply, fixture, fixture_bytes


class Sleeps:
    """Records the waits a client asked for instead of sleeping (no sleeps in tests)."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)

    def factory(self, config: SourceConfig) -> ProviderApi:
        return ProviderApi(name=config.name, timeout_s=5.0, sleep=self,
                           policy=RetryPolicy(attempts=4, base_delay_s=0.5, max_delay_s=4.0))


def stored(sessions: sessionmaker[Session], provider: str | None = None) -> list[dict[str, Any]]:
    with sessions() as session:
        stmt = select(RawFeedback).order_by(RawFeedback.occurred_at.desc())
        if provider:
            stmt = stmt.where(RawFeedback.provider == provider)
        return [r.normalised for r in session.scalars(stmt)]


def cursor(sessions: sessionmaker[Session], name: str) -> PollCursor | None:
    with sessions() as session:
        return session.get(PollCursor, name)


def trustpilot(server: ProviderServer, **extra: object) -> SourceConfig:
    return SourceConfig(name="tp", kind="trustpilot", business_unit_id="46d6a890000064000500e0c3",
                        base_url=server.url, api_key_env="LP_TEST_TRUSTPILOT_KEY", **extra)


def script_trustpilot(server: ProviderServer, *first: Reply) -> None:
    page1 = json.loads(fixture_bytes("trustpilot_reviews_page1.json").replace(
        b"NEXT_PAGE_URL", f"{server.url}/v1/business-units/46d6a890000064000500e0c3/reviews/p2".encode()))
    server.route("/v1/business-units/46d6a890000064000500e0c3/reviews", *first, Reply(200, page1))
    server.route("/v1/business-units/46d6a890000064000500e0c3/reviews/p2",
                 Reply(200, fixture("trustpilot_reviews_page2.json")))


def test_trustpilot_pages_are_read_and_the_cursor_moves(
    sessions: sessionmaker[Session], provider_server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LP_TEST_TRUSTPILOT_KEY", "tp-key")
    script_trustpilot(provider_server)
    sleeps = Sleeps()
    first = poll_once(trustpilot(provider_server), sessions=sessions, api_factory=sleeps.factory)
    assert (first.pages, first.accepted, first.duplicates, first.error) == (2, 3, 0, None)
    items = stored(sessions)
    assert [i["external_id"] for i in items] == ["6543b2f9e7a1c30f1a2b3c4d", "6543a1e8d6f0b20e09192a3b",
                                                  "65400000d6f0b20e09190001"]
    billing = items[0]
    assert (billing["kind"], billing["source"], billing["provider"]) == ("unaided", "review", "trustpilot")
    assert billing["text"] == ("Billing is a mess\n\nCharged twice for the same month and it took a week "
                               "to get a refund.")
    assert billing["scores"]["rating"] == 2.0
    assert billing["customer"]["handle"] == "Priya S."
    assert provider_server.hits("/v1/business-units/46d6a890000064000500e0c3/reviews")[0].query["apikey"] == ["tp-key"]
    saved = cursor(sessions, "tp")
    assert saved is not None
    assert saved.state["newest"].startswith("2026-11-02T10:30:00")

    again = poll_once(trustpilot(provider_server), sessions=sessions, api_factory=sleeps.factory)
    assert (again.pages, again.accepted) == (1, 0)  # stops at the cursor: page 2 is not read again
    assert again.duplicates == 1
    assert len(stored(sessions)) == 3
    assert sleeps.calls == []


def test_429_waits_as_told_and_5xx_backs_off(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    script_trustpilot(provider_server, Reply(429, {"message": "Too many requests"}, {"Retry-After": "7"}),
                      Reply(502, b"bad gateway"), Reply(503, b"unavailable"))
    sleeps = Sleeps()
    summary = poll_once(trustpilot(provider_server), sessions=sessions, api_factory=sleeps.factory)
    assert summary.error is None
    assert summary.accepted == 3
    assert sleeps.calls[0] == 7.0
    assert len(sleeps.calls) == 3
    assert 0.25 <= sleeps.calls[1] <= 1.0
    assert 0.5 <= sleeps.calls[2] <= 2.0


def test_a_spent_rate_budget_holds_the_next_call(sessions: sessionmaker[Session],
                                                 provider_server: ProviderServer) -> None:
    page1 = json.loads(fixture_bytes("trustpilot_reviews_page1.json").replace(
        b"NEXT_PAGE_URL", f"{provider_server.url}/v1/business-units/46d6a890000064000500e0c3/reviews/p2".encode()))
    provider_server.route("/v1/business-units/46d6a890000064000500e0c3/reviews",
                          Reply(200, page1, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "30"}))
    provider_server.route("/v1/business-units/46d6a890000064000500e0c3/reviews/p2",
                          Reply(200, fixture("trustpilot_reviews_page2.json")))
    sleeps = Sleeps()
    summary = poll_once(trustpilot(provider_server), sessions=sessions, api_factory=sleeps.factory)
    assert summary.pages == 2
    assert len(sleeps.calls) == 1
    assert 25 <= sleeps.calls[0] <= 30


def test_a_failing_source_keeps_its_cursor(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    page1 = json.loads(fixture_bytes("trustpilot_reviews_page1.json").replace(
        b"NEXT_PAGE_URL", f"{provider_server.url}/broken".encode()))
    provider_server.route("/v1/business-units/46d6a890000064000500e0c3/reviews", Reply(200, page1))
    provider_server.route("/broken", Reply(500, b"boom"))
    summary = poll_once(trustpilot(provider_server), sessions=sessions, api_factory=Sleeps().factory)
    assert summary.error is not None
    assert "HTTP 500" in summary.error
    assert summary.accepted == 2  # what was read is kept (it dedupes next time) ...
    saved = cursor(sessions, "tp")
    assert saved is not None
    assert "newest" not in saved.state
    assert saved.last_error is not None


def test_app_store_reviews(sessions: sessionmaker[Session], provider_server: ProviderServer,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LP_TEST_ASC_TOKEN", "asc-jwt")
    provider_server.route("/v1/apps/682658836/customerReviews", Reply(200, fixture("appstore_customer_reviews.json")))
    config = SourceConfig(name="ios", kind="appstore", app_id="682658836", base_url=provider_server.url,
                          token_env="LP_TEST_ASC_TOKEN")
    summary = poll_once(config, sessions=sessions, api_factory=Sleeps().factory)
    assert summary.accepted == 2
    crash = stored(sessions)[0]
    assert crash["text"].startswith("Crashes on login\n\nSince the last update")
    assert crash["scores"]["rating"] == 1.0
    assert crash["occurred_at"].startswith("2026-11-02T16:10:34")  # -08:00 converted to UTC
    assert crash["metadata"]["territory"] == "USA"
    seen = provider_server.hits("/v1/apps/682658836/customerReviews")[0]
    assert seen.headers["authorization"] == "Bearer asc-jwt"
    assert seen.query["sort"] == ["-createdDate"]


def test_google_play_token_pagination(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    path = "/androidpublisher/v3/applications/com.northwind.app/reviews"
    provider_server.route(path, Reply(200, fixture("googleplay_reviews.json")),
                          Reply(200, fixture("googleplay_reviews_page2.json")))
    config = SourceConfig(name="android", kind="googleplay", package_name="com.northwind.app",
                          base_url=provider_server.url)
    summary = poll_once(config, sessions=sessions, api_factory=Sleeps().factory)
    assert (summary.pages, summary.accepted) == (2, 2)
    assert provider_server.hits(path)[1].query["token"] == ["TOKEN-PAGE-2"]
    sync = stored(sessions)[0]
    assert sync["text"] == "Sync keeps failing\nThe calendar sync fails every night since version 5.2."
    assert sync["scores"]["rating"] == 2.0
    assert sync["metadata"]["review"]["comments"][1]["developerComment"]["text"].startswith("Thanks Maria")


def test_reddit_listing(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    provider_server.route("/r/northwindcloud/new.json", Reply(200, fixture("reddit_new.json")))
    config = SourceConfig(name="reddit", kind="reddit", subreddit="northwindcloud", base_url=provider_server.url)
    summary = poll_once(config, sessions=sessions, api_factory=Sleeps().factory)
    assert summary.accepted == 2
    outage, praise = stored(sessions)
    assert (outage["external_id"], outage["source"]) == ("t3_1abcde", "social")
    assert outage["text"] == "API down again?\n\nAnyone else seeing 502s on the API since this morning? " \
                             "Our dashboards are empty."
    assert outage["customer"]["handle"] == "u/ops_dana"
    assert praise["customer"]["handle"] is None  # a deleted author is nobody
    assert provider_server.hits("/r/northwindcloud/new.json")[0].headers["user-agent"].startswith("listening-path")


def test_mastodon_hashtag_with_link_pagination(sessions: sessionmaker[Session],
                                               provider_server: ProviderServer) -> None:
    path = "/api/v1/timelines/tag/northwind"
    link = f'<{provider_server.url}{path}?max_id=113456700000000000>; rel="next", ' \
           f'<{provider_server.url}{path}?min_id=113456789012345678>; rel="prev"'
    provider_server.route(path, Reply(200, fixture("mastodon_tag_timeline.json"), {"Link": link}), Reply(200, []))
    config = SourceConfig(name="masto", kind="mastodon", instance=provider_server.url, hashtag="#northwind")
    summary = poll_once(config, sessions=sessions, api_factory=Sleeps().factory)
    assert (summary.pages, summary.accepted) == (2, 2)
    assert provider_server.hits(path)[1].query["max_id"] == ["113456700000000000"]
    outage = stored(sessions)[0]
    assert outage["text"] == "Third outage this month for #northwind. Support says it's fixed.\nWe'll see."
    assert outage["customer"]["handle"] == "@kim"


def test_rss_feed_is_fetched_conditionally(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    provider_server.route("/latest.rss", Reply(200, fixture_bytes("rss_feed.xml"),
                                               {"Content-Type": "application/rss+xml", "ETag": '"v1"'}),
                          Reply(304, b""))
    config = SourceConfig(name="forum", kind="rss", url=f"{provider_server.url}/latest.rss", source="support")
    first = poll_once(config, sessions=sessions, api_factory=Sleeps().factory)
    assert first.accepted == 2
    export = stored(sessions)[0]
    assert export["external_id"] == "community.northwind.example-topic-812"
    assert export["text"] == "Export to CSV drops non-ASCII names\n\nWhen I export the report, names like João " \
                             "come out garbled."
    assert export["source"] == "support"
    assert export["occurred_at"].startswith("2026-11-02T09:15:00")
    second = poll_once(config, sessions=sessions, api_factory=Sleeps().factory)
    assert second.not_modified
    assert second.fetched == 0
    assert provider_server.hits("/latest.rss")[1].headers["if-none-match"] == '"v1"'


def test_atom_feed(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    provider_server.route("/reviews.atom", Reply(200, fixture_bytes("atom_feed.xml"),
                                                 {"Content-Type": "application/atom+xml"}))
    config = SourceConfig(name="atom", kind="rss", url=f"{provider_server.url}/reviews.atom", source="review")
    assert poll_once(config, sessions=sessions, api_factory=Sleeps().factory).accepted == 1
    (review,) = stored(sessions)
    assert review["text"] == "Fast support, slow product\n\nSupport answered in minutes but the reports take ages " \
                             "to load."
    assert review["customer"]["handle"] == "Sam"


def test_scheduler_runs_sources_when_due(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    provider_server.route("/r/northwindcloud/new.json", Reply(200, fixture("reddit_new.json")))
    now = [1_000_000.0]
    config = PollersConfig(sources=[SourceConfig(name="reddit", kind="reddit", subreddit="northwindcloud",
                                                 base_url=provider_server.url, every=600)])
    scheduler = PollScheduler(config, sessions=sessions, api_factory=Sleeps().factory, clock=lambda: now[0])
    assert [s.accepted for s in scheduler.run_due()] == [2]
    assert scheduler.run_due() == []
    now[0] += 601
    assert [(s.accepted, s.duplicates) for s in scheduler.run_due()] == [(0, 1)]  # stops at the cursor


def test_pollers_file_is_validated(tmp_path: Path) -> None:
    good = tmp_path / "pollers.yaml"
    good.write_text("sources:\n  - {name: tp, kind: trustpilot, business_unit_id: x, every: 15m}\n"
                    "  - {name: masto, kind: mastodon, instance: 'https://m.example', hashtag: northwind}\n")
    loaded = PollersConfig.load(good)
    assert loaded.get("tp").every == 900
    assert parse_duration("1d") == 86400
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {name: tp, kind: trustpilot, every: soon}\n")
    with pytest.raises(PollerConfigError, match="every") as info:
        PollersConfig.load(bad)
    assert "business_unit_id" in str(info.value) or "every" in str(info.value)
    with pytest.raises(PollerConfigError, match="no source named"):
        loaded.get("nope")


def test_poll_command_runs_one_source(database: Database, provider_server: ProviderServer, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    provider_server.route("/r/northwindcloud/new.json", Reply(200, fixture("reddit_new.json")))
    config = tmp_path / "pollers.yaml"
    config.write_text(f"sources:\n  - name: reddit\n    kind: reddit\n    subreddit: northwindcloud\n"
                      f"    base_url: '{provider_server.url}'\n")
    env = {"LP_DATA_DIR": str(database.data_dir), **({"DATABASE_URL": database.url} if database.url else {})}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(poll_command, ["reddit", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "2 new item(s): 2 accepted, 0 duplicates" in result.output
    assert IngestSettings().database_url_for("ingest")  # the command used the same database
    assert FIXTURES.exists()
