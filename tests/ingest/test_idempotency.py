"""``Idempotency-Key`` on ``POST /v1/feedback``: a retried request gets the first answer, stored once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from services.cli.migrate import upgrade_schemas
from services.ingest.app import create_app
from services.ingest.housekeeping import Housekeeping
from services.ingest.models import IdempotencyKey
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker
from shared.contracts import utcnow
from shared.db import transaction
from tests.conftest import Database
from tests.ingest.conftest import KEY, runtime_of, stored_feedback

AUTH = {"X-API-Key": KEY}


@pytest.fixture
def client(broker: EmbeddedBroker, database: Database) -> Iterator[TestClient]:
    settings = IngestSettings(data_dir=database.data_dir, database_url=database.url, kafka_bootstrap=broker.bootstrap,
                              api_key=KEY, kafka_partitions=1, idempotency_ttl_s=3600)
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
    assert "different request body" in reused.json()["error"]["message"]
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


def _age_keys(client: TestClient, by: timedelta, *keys: str) -> None:
    with transaction(runtime_of(client).sessions) as session:
        session.execute(update(IdempotencyKey).where(IdempotencyKey.key.in_(keys))
                        .values(created_at=utcnow() - by))


def _kept_keys(client: TestClient) -> set[str]:
    with runtime_of(client).sessions() as session:
        return set(session.scalars(select(IdempotencyKey.key)))


def test_a_key_is_honoured_within_its_window_and_new_after_it(client: TestClient) -> None:
    headers = {**AUTH, "Idempotency-Key": "weekly-export"}
    first = client.post("/v1/feedback", json=doc("w-1"), headers=headers)
    assert first.status_code == 202

    _age_keys(client, timedelta(minutes=59), "weekly-export")  # the window is an hour: still kept
    replay = client.post("/v1/feedback", json=doc("w-1"), headers=headers)
    assert replay.headers.get("Idempotent-Replayed") == "true"
    assert client.post("/v1/feedback", json=doc("w-2"), headers=headers).status_code == 422

    _age_keys(client, timedelta(minutes=61), "weekly-export")  # expired: the key is free again
    fresh = client.post("/v1/feedback", json=doc("w-2"), headers=headers)
    assert fresh.status_code == 202
    assert "Idempotent-Replayed" not in fresh.headers
    assert fresh.json()["status"] == "accepted"
    again = client.post("/v1/feedback", json=doc("w-2"), headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true"  # and the new answer is the one kept
    assert again.json() == fresh.json()
    assert {r.external_id for r in stored_feedback(client)} == {"w-1", "w-2"}


def test_housekeeping_purges_only_expired_keys(client: TestClient) -> None:
    for n in range(5):
        assert client.post("/v1/feedback", json=doc(f"h-{n}"),
                           headers={**AUTH, "Idempotency-Key": f"key-{n}"}).status_code == 202
    _age_keys(client, timedelta(hours=2), "key-0", "key-1", "key-2")
    housekeeping = Housekeeping(sessions=runtime_of(client).sessions, idempotency_ttl_s=3600)
    assert housekeeping.purge_expired() == 3
    assert _kept_keys(client) == {"key-3", "key-4"}
    assert housekeeping.purge_expired() == 0
    assert len(stored_feedback(client)) == 5  # the items stay: only the kept answers expire
