"""Reporting access (scoped keys, revocation, rate limits), ETags, CSV, search, overview and accountability."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.cli.migrate import upgrade_schemas
from services.reporting.access.keys import create_key, revoke_key
from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from shared.db import create_db_engine, make_session_factory, transaction
from tests.conftest import Database
from tests.journey import dataset
from tests.journey.test_customer_story import EMAIL_KEY, apply_all, in_time_order

BOOTSTRAP = "bootstrap-key-0123456789abcdef"


@pytest.fixture(scope="module")
def settings(module_database: Database) -> ReportingSettings:
    s = ReportingSettings(data_dir=module_database.data_dir, database_url=module_database.url, api_key=BOOTSTRAP,
                          identity_key=EMAIL_KEY.decode(), rate_limit="30/minute")
    upgrade_schemas(s, ["journey", "reporting"])
    engine = create_db_engine(s.database_url_for("journey"))
    apply_all(make_session_factory(engine), in_time_order(dataset.build(customers=120)))
    engine.dispose()
    return s


@pytest.fixture(scope="module")
def client(settings: ReportingSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def new_key(settings: ReportingSettings, *scopes: str) -> tuple[str, str]:
    engine = create_db_engine(settings.database_url_for("reporting"))
    with transaction(make_session_factory(engine)) as s:
        key = create_key(s, name="test", scopes=scopes)
    engine.dispose()
    return key.id, key.secret


def test_a_created_key_reads_and_a_revoked_one_is_refused(client: TestClient, settings: ReportingSettings) -> None:
    key_id, secret = new_key(settings, "reports:read")
    assert client.get("/v1/overview", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    engine = create_db_engine(settings.database_url_for("reporting"))
    with transaction(make_session_factory(engine)) as s:
        revoke_key(s, key_id)
    engine.dispose()
    client.app.state.runtime.guard._cache.clear()  # type: ignore[attr-defined]  # skip the 5 s cache in a test
    refused = client.get("/v1/overview", headers={"X-API-Key": secret})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


def test_keys_are_stored_as_hashes(settings: ReportingSettings) -> None:
    _, secret = new_key(settings, "reports:read")
    db = settings.database_url_for("reporting")
    engine = create_db_engine(db)
    with engine.connect() as conn:
        dump = " ".join(str(row) for row in conn.exec_driver_sql("SELECT * FROM api_keys"))
    engine.dispose()
    assert secret not in dump
    assert secret[:10] in dump  # the prefix, to recognise it


def test_each_key_has_its_rate_limit(client: TestClient, settings: ReportingSettings) -> None:
    _, secret = new_key(settings, "reports:read")
    answers = [client.get("/v1/alerts", params={"limit": 1}, headers={"X-API-Key": secret}) for _ in range(31)]
    assert [a.status_code for a in answers[:30]] == [200] * 30
    limited = answers[30]
    assert limited.status_code == 429
    assert limited.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    _, other = new_key(settings, "reports:read")
    assert client.get("/v1/alerts", params={"limit": 1}, headers={"X-API-Key": other}).status_code == 200


def test_an_unchanged_answer_is_a_304(client: TestClient) -> None:
    auth = {"X-API-Key": BOOTSTRAP}
    first = client.get("/v1/stages", params={"since": "2026-07-01", "until": "2026-10-31"}, headers=auth)
    etag = first.headers["ETag"]
    again = client.get("/v1/stages", params={"since": "2026-07-01", "until": "2026-10-31"},
                       headers={**auth, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    other = client.get("/v1/stages", params={"since": "2026-08-01", "until": "2026-10-31"},
                       headers={**auth, "If-None-Match": etag})
    assert other.status_code == 200


def test_csv_export_streams_every_match(client: TestClient) -> None:
    auth = {"X-API-Key": BOOTSTRAP}
    page = client.get("/v1/feedback", params={"stage": "support", "limit": 200}, headers=auth).json()
    total = len(page["items"])
    cursor = page["next_cursor"]
    while cursor:
        page = client.get("/v1/feedback", params={"stage": "support", "limit": 200, "cursor": cursor},
                          headers=auth).json()
        total += len(page["items"])
        cursor = page["next_cursor"]
    response = client.get("/v1/feedback", params={"stage": "support", "format": "csv"}, headers=auth)
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == total
    assert {r["stage.id"] for r in rows} == {"support"}
    assert rows[0]["sentiment.label"] in {"negative", "neutral", "positive"}


def test_search_finds_words_and_combines_filters(client: TestClient) -> None:
    auth = {"X-API-Key": BOOTSTRAP}
    found = client.get("/v1/feedback", params={"q": '"SUPPORT IS DOWN"', "limit": 100}, headers=auth).json()["items"]
    assert len(found) == 12  # the phrase
    assert all("support is down" in i["text"] for i in found)
    words = client.get("/v1/feedback", params={"q": "Down support", "limit": 100}, headers=auth).json()["items"]
    assert {i["id"] for i in found} <= {i["id"] for i in words}  # the words, anywhere
    assert all({"down", "support"} <= set(i["text"].lower().replace(",", " ").split()) for i in words)
    narrowed = client.get("/v1/feedback", params={"q": '"support is down"', "source": "social", "provider": "reddit",
                                                  "since": dataset.SPIKE_DAY.isoformat(),
                                                  "until": dataset.SPIKE_DAY.isoformat()}, headers=auth).json()
    assert len(narrowed["items"]) == 12
    none = client.get("/v1/feedback", params={"q": '"support is down"', "until": "2026-07-31"}, headers=auth).json()
    assert none["items"] == []
    nothing = client.get("/v1/feedback", params={"q": "%_"}, headers=auth)
    assert nothing.status_code == 400  # no word to find: a clear answer, not an empty list
    assert nothing.json()["error"]["code"] == "invalid_search"


def test_overview_compares_with_the_period_before(client: TestClient) -> None:
    o = client.get("/v1/overview", params={"since": "2026-09-01", "until": "2026-10-31"},
                   headers={"X-API-Key": BOOTSTRAP}).json()
    now, before = o["current"], o["previous"]
    assert now["voices"]["volume"] == now["voices"]["negative"] + now["voices"]["neutral"] + now["voices"]["positive"]
    assert o["change"]["volume"] == now["voices"]["volume"] - before["voices"]["volume"]
    assert o["change"]["customers_lost"] == now["customers"]["lost"]["customers"] - before["customers"]["lost"][
        "customers"]


def test_accountability_report_as_json_and_markdown(client: TestClient) -> None:
    auth = {"X-API-Key": BOOTSTRAP}
    report = client.get("/v1/accountability", params={"since": "2026-10-01", "until": "2026-10-31"},
                        headers=auth).json()
    assert {t["id"] for t in report["targets"]} == {"first-data-connected", "ticket-answered-same-day",
                                                    "reliable-dashboards", "clean-invoices"}
    assert len(report["movers"]) == 3
    changes = [abs(m["change"]) for m in report["movers"]]
    assert changes == sorted(changes, reverse=True)
    assert report["alerts"].get("negative_spike", 0) >= 1
    values = [r["value"] or 0 for r in report["new_risks"]]
    assert values == sorted(values, reverse=True)
    md = client.get("/v1/accountability", params={"since": "2026-10-01", "until": "2026-10-31", "format": "markdown"},
                    headers=auth)
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text.startswith("# Customer accountability report: 2026-10-01 to 2026-10-31")
    assert "| Support tickets answered the same business day |" in md.text
    missing = client.get("/v1/accountability", headers=auth)
    assert missing.status_code == 422


@pytest.mark.parametrize(("path", "column"), [("/v1/customers", "state"), ("/v1/alerts", "kind"),
                                              ("/v1/stages", "negative_share"), ("/v1/experiences", "status")])
def test_every_list_exports_csv(client: TestClient, path: str, column: str) -> None:
    response = client.get(path, params={"format": "csv", "since": "2026-07-01", "until": "2026-10-31"},
                          headers={"X-API-Key": BOOTSTRAP})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows
    assert column in rows[0]


def test_stages_carry_a_weekly_trend(client: TestClient) -> None:
    stages = client.get("/v1/stages", params={"since": "2026-09-01", "until": "2026-10-31"},
                        headers={"X-API-Key": BOOTSTRAP}).json()["stages"]
    support = next(s for s in stages if s["id"] == "support")
    assert len(support["trend"]) == 8
    assert sum(w["volume"] for w in support["trend"]) > 0
