"""``Idempotency-Key`` on ``POST /v1/feedback``: a retried request gets the first answer, stored once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from fastapi.testclient import TestClient

from services.cli.migrate import upgrade_schemas
from services.ingest.app import create_app
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker
from tests.conftest import Database
from tests.ingest.conftest import KEY, stored_feedback

AUTH = {"X-API-Key": KEY}


@pytest.fixture
def client(broker: EmbeddedBroker, database: Database) -> Iterator[TestClient]:
    settings = IngestSettings(data_dir=database.data_dir, database_url=database.url, kafka_bootstrap=broker.bootstrap,
                              api_key=KEY, kafka_partitions=1)
    upgrade_schemas(settings, ["ingest"])
    with TestClient(create_app(settings)) as c:
        yield c


def doc(external_id: str | None = None, text: str = "The export button is hidden.") -> dict[str, object]:
    return {"provider": "web", "source": "survey", "text": text, "scores": {"csat": 2},
            **({"external_id": external_id} if external_id else {})}


def test_a_retried_request_gets_the_first_answer(client: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "order-7781-feedback"}
    first = client.post("/v1/feedback", json={"items": [doc("a"), doc("b")]}, headers=headers)
    retry = client.post("/v1/feedback", json={"items": [doc("a"), doc("b")]}, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert [o["status"] for o in retry.json()["items"]] == ["accepted", "accepted"]  # the answer, not "duplicate"
    assert len(stored_feedback(client)) == 2


def test_the_same_key_with_another_body_is_refused(client: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "k-1"}
    assert client.post("/v1/feedback", json=doc(text="first"), headers=headers).status_code == 202
    reused = client.post("/v1/feedback", json=doc(text="second"), headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert len(stored_feedback(client)) == 1


def test_concurrent_retries_store_once(client: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "burst-key"}
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: client.post("/v1/feedback", json=doc(), headers=headers), range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["id"] for a in answers}) == 1
    assert len(stored_feedback(client)) == 1


def test_bad_keys_are_refused(client: TestClient) -> None:
    response = client.post("/v1/feedback", json=doc(), headers={**AUTH, "Idempotency-Key": "x" * 201})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
