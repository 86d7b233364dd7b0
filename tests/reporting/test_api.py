"""The reporting API over a seeded story store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from services.cli.migrate import upgrade_schemas
from services.journey.alerts.service import AlertPolicy
from services.journey.settings import DEMO_JOURNEY_MAP
from services.journey.story.service import StoryContext, apply_enriched
from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from shared.contracts import CustomerRef, JourneyMap, SentimentLabel
from shared.db import create_db_engine, make_session_factory, transaction
from tests.conftest import Database
from tests.factories import enriched_event

KEY = "test-reporting-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
START = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def client(module_database: Database) -> Iterator[TestClient]:
    settings = ReportingSettings(data_dir=module_database.data_dir, database_url=module_database.url, api_key=KEY,
                                 identity_key="k")
    upgrade_schemas(settings, ["journey", "reporting"])
    stages = JourneyMap.load(DEMO_JOURNEY_MAP).stage_ids()
    labels = [SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE]
    events = [
        enriched_event(
            stage=stages[i % 2],  # the first two stages of the journey
            sentiment=labels[i % 3],
            customer=CustomerRef(id=f"C-{i % 5}"),
            occurred_at=START + timedelta(hours=6 * i),
            text=f"voice number {i}",
        )
        for i in range(30)
    ] + [enriched_event(stage=None, sentiment=SentimentLabel.NEUTRAL, occurred_at=START)]
    engine = create_db_engine(settings.database_url_for("journey"))
    with transaction(make_session_factory(engine)) as s:
        ctx = StoryContext(journey_map=JourneyMap.load(DEMO_JOURNEY_MAP), email_key=b"k", alerts=AlertPolicy())
        apply_enriched(session=s, events=events, ctx=ctx)
    engine.dispose()
    with TestClient(create_app(settings)) as c:
        yield c


def test_feedback_pages_cover_every_item_once_newest_first(client: TestClient) -> None:
    seen: list[str] = []
    times: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 7}
        if cursor:
            params["cursor"] = cursor
        page = client.get("/v1/feedback", params=params, headers=AUTH).json()
        pages += 1
        seen += [i["id"] for i in page["items"]]
        times += [i["occurred_at"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)) == 31
    assert times == sorted(times, reverse=True)


def test_feedback_filters_combine(client: TestClient) -> None:
    stage = JourneyMap.load(DEMO_JOURNEY_MAP).stage_ids()[0]
    body = client.get("/v1/feedback", params={"stage": stage, "sentiment": "negative", "limit": 100},
                      headers=AUTH).json()
    # i % 2 == 0 and i % 3 == 0 → i in {0, 6, 12, 18, 24}
    assert len(body["items"]) == 5
    assert {i["stage"]["id"] for i in body["items"]} == {stage}
    assert {i["sentiment"]["label"] for i in body["items"]} == {"negative"}
    by_customer = client.get("/v1/feedback", params={"customer": "C-3", "limit": 100}, headers=AUTH).json()
    assert len(by_customer["items"]) == 6
    assert len({i["customer_id"] for i in by_customer["items"]}) == 1
    unknown = client.get("/v1/feedback", params={"customer": "nobody"}, headers=AUTH).json()
    assert unknown["items"] == []


def test_stages_report_volume_and_mix_in_journey_order(client: TestClient) -> None:
    jm = JourneyMap.load(DEMO_JOURNEY_MAP)
    report = client.get("/v1/stages", headers=AUTH).json()
    assert [s["id"] for s in report["stages"]] == [*jm.stage_ids(), None]
    first, second = report["stages"][0], report["stages"][1]
    assert first["volume"] == 15
    assert first["sentiment"] == {"negative": 5, "neutral": 5, "positive": 5}
    assert first["negative_share"] == pytest.approx(1 / 3, abs=1e-4)
    assert second["volume"] == 15
    assert report["stages"][2]["volume"] == 0
    assert report["stages"][2]["negative_share"] is None
    assert report["stages"][-1]["volume"] == 1


def test_stages_for_a_period(client: TestClient) -> None:
    # 1 Oct holds i = 0, 1, 2 (09:00, 15:00, 21:00) plus the unstaged item
    report = client.get("/v1/stages", params={"since": "2026-10-01", "until": "2026-10-01"}, headers=AUTH).json()
    assert sum(s["volume"] for s in report["stages"]) == 4
    bad = client.get("/v1/stages", params={"since": "2026-10-02", "until": "2026-10-01"}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_period"


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
        ({"sentiment": "angry"}, 422, "validation_failed"),
        ({"limit": 0}, 422, "validation_failed"),
        ({"limit": 500}, 400, "limit_too_large"),
    ],
)
def test_bad_queries_get_clear_errors(client: TestClient, params: dict[str, object], status: int, code: str) -> None:
    response = client.get("/v1/feedback", params=params, headers=AUTH)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code


def test_reporting_requires_the_key(client: TestClient) -> None:
    assert client.get("/v1/feedback").status_code == 401
    assert client.get("/v1/stages", headers={"X-API-Key": "nope"}).status_code == 401
    assert client.get("/healthz").status_code == 200
