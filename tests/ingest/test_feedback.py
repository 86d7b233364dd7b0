"""``POST /v1/feedback`` against a real database and a real broker."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select

from services.cli.migrate import upgrade_schemas
from services.ingest.app import create_app
from services.ingest.feedback.endpoints import FEEDBACK_BODY, parse_feedback_body
from services.ingest.models import RawFeedback
from services.ingest.runtime import IngestRuntime
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker
from shared.contracts import FEEDBACK_RAW, CloudEvent, FeedbackReceived
from tests.conftest import Database
from tests.kafka_reading import read_topic

KEY = "test-ingest-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def item(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "source": "survey",
        "provider": "typeform",
        "external_id": "resp-1",
        "text": "The setup wizard crashed twice.",
        "customer": {"id": "C-1", "email": "ana@example.com"},
        "scores": {"nps": 5},
        "occurred_at": "2026-11-02T14:05:00Z",
        "metadata": {"form_id": "onboarding-csat"},
    }
    doc.update(overrides)
    return doc


@pytest.fixture
def settings(broker: EmbeddedBroker, database: Database) -> IngestSettings:
    s = IngestSettings(
        data_dir=database.data_dir, database_url=database.url, kafka_bootstrap=broker.bootstrap,
        api_key=KEY, kafka_partitions=1, max_batch_items=5, max_body_bytes=20_000,
    )
    upgrade_schemas(s, ["ingest"])
    return s


@pytest.fixture
def client(settings: IngestSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def stored_count(client: TestClient) -> int:
    runtime: IngestRuntime = client.app.state.runtime  # type: ignore[attr-defined]
    with runtime.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(RawFeedback)) or 0)


def test_an_item_is_stored_then_published_as_a_cloudevent(client: TestClient, broker: EmbeddedBroker) -> None:
    response = client.post("/v1/feedback", json=item(), headers={**AUTH, "traceparent": TRACE})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "accepted"
    assert body["id"].startswith("fb_")
    assert stored_count(client) == 1

    records = [r for r in read_topic(broker.bootstrap, FEEDBACK_RAW, expect=1)
               if json.loads(r.value)["subject"] == body["id"]]
    assert len(records) == 1
    assert records[0].key == b"id:C-1"
    event = CloudEvent[FeedbackReceived].model_validate_json(records[0].value)
    assert event.type == "io.listeningpath.feedback.received.v1"
    assert event.traceparent is not None
    assert event.traceparent.split("-")[1] == "4bf92f3577b34da6a3ce929d0e0e4736"  # the caller's trace goes on
    assert event.data.feedback_id == body["id"]
    assert event.data.kind.value == "aided"
    assert event.data.scores.nps == 5
    assert event.data.metadata == {"form_id": "onboarding-csat"}


def test_a_repeated_item_is_a_duplicate_of_the_first(client: TestClient) -> None:
    first = client.post("/v1/feedback", json=item(), headers=AUTH).json()
    again = client.post("/v1/feedback", json=item(text="edited text, same response id"), headers=AUTH).json()
    assert again == {"id": first["id"], "status": "duplicate"}
    assert stored_count(client) == 1


def test_a_batch_reports_each_item_in_order(client: TestClient) -> None:
    client.post("/v1/feedback", json=item(external_id="old"), headers=AUTH)
    batch = {"items": [item(external_id="a"), item(external_id="old"), item(external_id="a"), item(external_id="b")]}
    response = client.post("/v1/feedback", json=batch, headers=AUTH)
    assert response.status_code == 202
    body = response.json()
    assert [o["status"] for o in body["items"]] == ["accepted", "duplicate", "duplicate", "accepted"]
    assert body["items"][0]["id"] == body["items"][2]["id"]
    assert (body["accepted"], body["duplicates"]) == (2, 2)
    assert stored_count(client) == 3


def test_items_without_external_id_are_deduplicated_by_content(client: TestClient) -> None:
    doc = item(external_id=None, provider="web")
    first = client.post("/v1/feedback", json=doc, headers=AUTH).json()
    second = client.post("/v1/feedback", json=doc, headers=AUTH).json()
    other = client.post("/v1/feedback", json={**doc, "text": "something else"}, headers=AUTH).json()
    assert second == {"id": first["id"], "status": "duplicate"}
    assert other["status"] == "accepted"


def test_invalid_items_get_422_with_a_reason_per_field_and_nothing_is_stored(client: TestClient) -> None:
    bad = item(provider=None, scores={"nps": 11}, surprise=True)
    response = client.post("/v1/feedback", json=bad, headers=AUTH)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_failed"
    fields = {d["field"] for d in error["details"]}
    assert {"single.provider", "single.scores.nps", "single.surprise"} <= fields
    batch = client.post("/v1/feedback", json={"items": [item(external_id="ok"), item(text="", scores={})]},
                        headers=AUTH)
    assert batch.status_code == 422
    assert any("text or at least one score" in d["reason"] for d in batch.json()["error"]["details"])
    assert stored_count(client) == 0


def test_malformed_json_gets_422(client: TestClient) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    response = client.post("/v1/feedback", content=b'{"provider": ', headers=headers)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}])
def test_callers_without_the_key_are_refused(client: TestClient, headers: dict[str, str]) -> None:
    response = client.post("/v1/feedback", json=item(), headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"unauthorized", "invalid_api_key"}
    assert stored_count(client) == 0


def test_bearer_authentication_works(client: TestClient) -> None:
    response = client.post("/v1/feedback", json=item(), headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 202


def test_oversized_batches_and_bodies_get_413(client: TestClient) -> None:
    batch = {"items": [item(external_id=str(i)) for i in range(6)]}
    response = client.post("/v1/feedback", json=batch, headers=AUTH)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "batch_too_large"
    huge = client.post("/v1/feedback", json=item(text="x" * 19_990), headers=AUTH)
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    assert stored_count(client) == 0


def test_ops_endpoints(client: TestClient) -> None:
    client.post("/v1/feedback", json=item(), headers=AUTH)
    assert client.get("/healthz").json() == {"status": "ok", "service": "ingest"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok", "intake_writer": "ok", "outbox_relay": "ok"}
    metrics = client.get("/metrics").text
    assert 'lp_pipeline_items_total{outcome="accepted",service="ingest"}' in metrics
    assert "lp_http_request_duration_seconds_bucket" in metrics


BODIES = [
    json.dumps(item()).encode(),
    json.dumps({"items": [item(), item(external_id="resp-2")]}).encode(),
    b' \n{ "items" : [' + json.dumps(item()).encode() + b"]}",
    json.dumps({"metadata": {"items": [1]}, **{k: v for k, v in item().items() if k != "metadata"}}).encode(),
    json.dumps({"text": "x", "provider": "p", "items": []}).encode(),
    json.dumps({"\\u0069tems": [item()]}).encode(),
    b'{"\\u0069tems": [' + json.dumps(item()).encode() + b"]}",
    json.dumps({"items": [item(provider="Bad Provider"), item(text="", scores={})]}).encode(),
    json.dumps({"items": []}).encode(),
    json.dumps({"items": 3, "extra": 1}).encode(),
    json.dumps(item(surprise=1, scores={"nps": 11})).encode(),
    b"[1, 2]",
    b'"items"',
    b"{not json",
    b"",
]


@pytest.mark.parametrize("body", BODIES)
def test_the_body_parser_matches_the_tagged_union(body: bytes) -> None:
    def outcome(parse: Callable[[bytes], BaseModel]) -> object:
        try:
            return parse(body).model_dump()
        except ValidationError as exc:
            return [(e["loc"], e["type"], e["msg"]) for e in exc.errors()]

    assert outcome(parse_feedback_body) == outcome(FEEDBACK_BODY.validate_json)
