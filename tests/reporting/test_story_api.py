"""The story endpoints of the reporting API over the realistic data set (tests/journey/dataset.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.cli.migrate import upgrade_schemas
from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from shared.db import create_db_engine, make_session_factory
from tests.conftest import Database
from tests.journey import dataset
from tests.journey.test_customer_story import EMAIL_KEY, apply_all, in_time_order

KEY = "story-api-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def client(module_database: Database) -> Iterator[TestClient]:
    settings = ReportingSettings(data_dir=module_database.data_dir, database_url=module_database.url, api_key=KEY,
                                 identity_key=EMAIL_KEY.decode())
    upgrade_schemas(settings, ["journey", "reporting"])
    engine = create_db_engine(settings.database_url_for("journey"))
    apply_all(make_session_factory(engine), in_time_order(dataset.build()))
    engine.dispose()
    with TestClient(create_app(settings)) as c:
        yield c


def test_customers_at_risk_most_valuable_first_with_reasons(client: TestClient) -> None:
    page = client.get("/v1/customers", params={"state": "at_risk", "limit": 20}, headers=AUTH).json()
    items = page["items"]
    assert len(items) == 20
    assert page["next_cursor"]
    assert {c["state"] for c in items} == {"at_risk"}
    values = [c["value"] for c in items]
    assert values == sorted(values, reverse=True)
    risks = {"downgrade", "detractor", "negative_trend", "open_complaint"}
    assert all(risks & {r["code"] for r in c["reasons"]} for c in items)
    nxt = client.get("/v1/customers", params={"state": "at_risk", "limit": 20, "cursor": page["next_cursor"]},
                     headers=AUTH).json()
    assert not {c["id"] for c in items} & {c["id"] for c in nxt["items"]}


def test_a_customer_story_by_company_id(client: TestClient) -> None:
    found = client.get("/v1/feedback", params={"customer": dataset.HIGH_VALUE_CUSTOMER, "limit": 1},
                       headers=AUTH).json()
    customer_id = found["items"][0]["customer_id"]
    story = client.get(f"/v1/customers/{customer_id}", headers=AUTH).json()
    assert story["customer"]["name"] == dataset.HIGH_VALUE_CUSTOMER
    assert story["customer"]["value"] == 90_000
    assert story["customer"]["state"] == "at_risk"
    assert story["customer"]["nps_latest"] == 2
    assert {"detractor", "upgrade"} <= {r["code"] for r in story["customer"]["reasons"]}
    kinds = [(t["type"], t["event_kind"]) for t in story["timeline"]]
    assert ("crm", "upgrade") in kinds
    assert story["timeline"][0]["nps"] == 2
    assert client.get("/v1/customers/cu_nobody", headers=AUTH).status_code == 404


def test_the_ledger_compares_with_the_previous_period(client: TestClient) -> None:
    report = client.get("/v1/ledger", params={"since": "2026-09-01", "until": "2026-10-31"}, headers=AUTH).json()
    current, previous = report["current"], report["previous"]
    assert (current["since"], current["until"]) == ("2026-09-01", "2026-10-31")
    assert (previous["since"], previous["until"]) == ("2026-07-02", "2026-08-31")
    ds = dataset.build()
    lost_now = sum(1 for day, _, _ in ds.cancelled.values() if day.isoformat() >= "2026-09-01")
    assert current["lost"]["customers"] == lost_now
    assert previous["lost"]["customers"] + lost_now == len(ds.cancelled)


def test_stages_carry_scores_mix_and_phrases(client: TestClient) -> None:
    report = client.get("/v1/stages", params={"since": "2026-07-01", "until": "2026-10-31"}, headers=AUTH).json()
    support = next(s for s in report["stages"] if s["id"] == "support")
    assert support["volume"] > 0
    assert support["aided"] + support["unaided"] == support["volume"]
    assert -100 <= support["nps"] <= 100
    assert 0 <= support["csat"] <= 100
    assert support["top_phrases"][0]["phrase"] == "support issue"
    assert support["top_phrases"][0]["examples"]


def test_experiences_against_targets_with_a_weekly_trend(client: TestClient) -> None:
    report = client.get("/v1/experiences", params={"since": "2026-10-01", "until": "2026-10-28"},
                        headers=AUTH).json()
    by_id = {e["id"]: e for e in report["experiences"]}
    support = by_id["ticket-answered-same-day"]
    assert support["owner"] == "VP Support (Marcus Lee)"
    assert support["lower_is_better"] is True
    assert support["status"] == ("missed" if support["value"] > support["target"] else "met")
    assert len(support["trend"]) == 8
    assert sum(p["volume"] for p in support["trend"][-4:]) == support["volume"]


def test_alerts_newest_first_and_filtered(client: TestClient) -> None:
    spikes = client.get("/v1/alerts", params={"kind": "negative_spike"}, headers=AUTH).json()["items"]
    assert spikes
    assert {a["kind"] for a in spikes} == {"negative_spike"}
    everything = client.get("/v1/alerts", headers=AUTH).json()["items"]
    times = [a["occurred_at"] for a in everything]
    assert times == sorted(times, reverse=True)
