"""Several ingest processes on one database: every one takes requests, exactly one relays, fetches and polls,
and another takes over when the leader goes away."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from services.cli.migrate import upgrade_schemas
from services.ingest.app import create_app
from services.ingest.leader import LeaderLock
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker
from shared.contracts import FEEDBACK_RAW
from shared.db import create_db_engine
from tests.conftest import Database
from tests.ingest.conftest import KEY, runtime_of
from tests.kafka_reading import read_topic
from tests.polling import wait_for

AUTH = {"X-API-Key": KEY}


@pytest.fixture
def settings(broker: EmbeddedBroker, database: Database) -> IngestSettings:
    s = IngestSettings(data_dir=database.data_dir, database_url=database.url, kafka_bootstrap=broker.bootstrap,
                       api_key=KEY, kafka_partitions=1, leader_retry_s=0.2, relay_idle_s=0.1)
    upgrade_schemas(s, ["ingest"])
    return s


def test_the_lock_has_one_holder_at_a_time(settings: IngestSettings) -> None:
    engine = create_db_engine(settings.database_url_for("ingest"))
    first, second = LeaderLock(engine, "t"), LeaderLock(engine, "t")
    try:
        assert first.try_acquire()
        assert first.held
        assert not second.try_acquire()
        other = LeaderLock(engine, "another-name")  # another name is another lock
        assert other.try_acquire()
        other.release()
        first.release()
        assert not first.held
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()
        engine.dispose()


@pytest.fixture
def two_processes(settings: IngestSettings) -> Iterator[tuple[TestClient, TestClient]]:
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        yield first, second


def _post(client: TestClient, external_id: str) -> str:
    response = client.post("/v1/feedback", headers=AUTH, json={
        "provider": "web", "source": "survey", "external_id": external_id, "text": "Billing page timed out."})
    assert response.status_code == 202
    return str(response.json()["id"])


def test_one_process_leads_and_every_accepted_item_is_published(
        two_processes: tuple[TestClient, TestClient], broker: EmbeddedBroker) -> None:
    first, second = two_processes
    leader, follower = runtime_of(first).leadership, runtime_of(second).leadership
    assert leader.leading
    assert not follower.leading
    assert runtime_of(first).singletons
    assert not runtime_of(second).singletons
    assert second.get("/readyz").status_code == 200  # a follower is ready: it takes requests

    ids = {_post(first, "lead-1"), _post(second, "follow-1")}  # the follower's item is relayed by the leader
    published = wait_for(lambda: {json.loads(r.value)["subject"] for r in read_topic(
        broker.bootstrap, FEEDBACK_RAW, expect=2)} >= ids or None, what="both items published")
    assert published


def test_another_process_takes_over_when_the_leader_stops(settings: IngestSettings, broker: EmbeddedBroker) -> None:
    leader = TestClient(create_app(settings))
    leader.__enter__()
    running = True
    try:
        with TestClient(create_app(settings)) as follower:
            assert runtime_of(leader).leadership.leading
            assert not runtime_of(follower).leadership.leading
            leader.__exit__(None, None, None)  # the leader stops: the follower takes the lock within a retry or two
            running = False
            wait_for(lambda: runtime_of(follower).leadership.leading, timeout_s=10, what="the follower to lead")
            names = {w.name for w in runtime_of(follower).singletons}
            assert names == {"outbox-relay", "fetch-worker", "housekeeping"}
            feedback_id = _post(follower, "after-failover")
            wait_for(lambda: any(json.loads(r.value)["subject"] == feedback_id
                                 for r in read_topic(broker.bootstrap, FEEDBACK_RAW, expect=1)),
                     what="the new leader to publish")
    finally:
        if running:
            leader.__exit__(None, None, None)
