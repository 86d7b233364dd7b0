"""What schemathesis and the property tests found, pinned as plain tests so each stays fixed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.imports.mapping import load_mapping
from services.ingest.imports.service import ImportError_, run_import
from services.ingest.pollers.config import PollersConfig, SourceConfig
from services.ingest.pollers.scheduler import PollScheduler
from tests.hostile.conftest import AUTH, SECRETS
from tests.ingest import signing
from tests.ingest.provider_server import ProviderServer, Reply, fixture


@pytest.mark.parametrize("params", [{"since": "0001-01-01"}, {"until": "9999-12-31"}, {"until": "0001-01-05"},
                                    {"since": "9999-12-30", "until": "9999-12-31"}])
@pytest.mark.parametrize("path", ["/v1/overview", "/v1/stages", "/v1/ledger", "/v1/experiences", "/v1/feedback"])
def test_days_at_the_ends_of_the_calendar_are_400(reporting_client: TestClient, path: str,
                                                  params: dict[str, str]) -> None:
    """They overflowed the date arithmetic of periods (500 OverflowError)."""
    response = reporting_client.get(path, params=params, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_period"
    alerts = reporting_client.get("/v1/alerts", params={"since": params.get("since", "0001-01-01")}, headers=AUTH)
    assert (alerts.status_code, alerts.json()["error"]["code"]) == (400, "invalid_period")


def test_a_typeform_field_id_that_is_not_a_string_is_422(ingest_client: TestClient) -> None:
    """An unhashable field id crashed the mapping (500 TypeError)."""
    doc = fixture("typeform_form_response.json")
    doc["form_response"]["definition"]["fields"][0]["id"] = ["not", "an", "id"]
    body = json.dumps(doc).encode()
    response = ingest_client.post("/v1/webhooks/typeform", content=body, headers={
        **signing.typeform(SECRETS["typeform_secret"], body), "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "unexpected_shape"


def test_head_of_a_webhook_answers_without_a_body(ingest_client: TestClient) -> None:
    assert ingest_client.head("/v1/webhooks/typeform").status_code == 200
    assert ingest_client.head("/v1/webhooks/nosuchtool").status_code == 404




def test_a_malformed_page_is_a_poll_error_and_the_round_goes_on(ingest_sessions: sessionmaker[Session]) -> None:
    """A page of the wrong shape raised out of the round: later sources were skipped and the failing one was
    polled again at once, in a loop."""
    with ProviderServer() as server:
        server.route("/r/broken/new.json", Reply(200, ["a", "list", "where", "a", "listing", "belongs"]))
        server.route("/r/fine/new.json", Reply(200, fixture("reddit_new.json")))
        config = PollersConfig(sources=[
            SourceConfig(name="broken", kind="reddit", subreddit="broken", base_url=server.url),
            SourceConfig(name="fine", kind="reddit", subreddit="fine", base_url=server.url),
        ])
        scheduler = PollScheduler(config, sessions=ingest_sessions)
        summaries = {s.source: s for s in scheduler.run_due()}
    assert summaries["broken"].error is not None
    assert "documented shape" in summaries["broken"].error
    assert summaries["fine"].error is None
    assert summaries["fine"].accepted == 2
    assert scheduler.next_due(config.sources[0]) - time.time() >= 30, "the failing source backs off: no hot retry"


def test_a_csv_header_the_reader_cannot_read_is_an_import_error(ingest_sessions: sessionmaker[Session],
                                                               tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"text,n\rps\nhello,3\n")  # a bare CR inside the header line
    with pytest.raises(ImportError_, match="header"):
        run_import(path, sessions=ingest_sessions, mapping=load_mapping(defaults={"provider": "x"}))
