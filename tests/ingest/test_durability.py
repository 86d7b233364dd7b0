"""The broker stopped during a burst of webhooks: every accepted item is published once it is back."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.cli.migrate import upgrade_schemas
from services.ingest.app import create_app
from services.ingest.models import OutboxMessage
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker, ensure_topics, free_port
from shared.contracts import FEEDBACK_RAW
from tests.conftest import Database
from tests.ingest import signing
from tests.ingest.conftest import KEY, SECRETS, runtime_of
from tests.ingest.provider_server import fixture
from tests.kafka_reading import read_topic
from tests.polling import wait_for

BEFORE, DURING = 20, 60


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker(port=free_port(), log_file=tmp_path / "broker-1.log").start()
    yield broker
    broker.stop()


def _webhook(n: int) -> bytes:
    doc = fixture("typeform_form_response.json")
    doc["form_response"]["token"] = f"burst-{n:04d}"
    return json.dumps(doc).encode()


def _subjects(bootstrap: str, expect: int) -> set[str]:
    return {json.loads(r.value)["subject"] for r in read_topic(bootstrap, FEEDBACK_RAW, expect=expect, timeout_s=5)}


def _backlog(client: TestClient) -> int:
    with runtime_of(client).sessions() as session:
        stmt = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.published_at.is_(None))
        return int(session.scalar(stmt) or 0)


def test_nothing_accepted_is_lost_while_the_broker_is_down(
    own_broker: EmbeddedBroker, database: Database, tmp_path: Path
) -> None:
    settings = IngestSettings(
        data_dir=database.data_dir, database_url=database.url, kafka_bootstrap=own_broker.bootstrap, api_key=KEY,
        kafka_partitions=1, relay_idle_s=0.1, typeform_secret=SECRETS["typeform_secret"],
    )
    upgrade_schemas(settings, ["ingest"])
    accepted: list[str] = []

    def burst(numbers: range) -> None:
        for n in numbers:
            body = _webhook(n)
            response = client.post("/v1/webhooks/typeform", content=body,
                                   headers=signing.typeform(SECRETS["typeform_secret"], body))
            assert response.status_code == 202, response.text
            accepted.extend(i["id"] for i in response.json()["items"] if i["status"] == "accepted")

    with TestClient(create_app(settings)) as client:
        burst(range(BEFORE))

        def first_delivered() -> set[str] | None:
            subjects = _subjects(own_broker.bootstrap, len(accepted))
            return subjects if subjects >= set(accepted) else None

        delivered_before = wait_for(first_delivered, timeout_s=60, what="the first items on the broker")

        own_broker.stop()  # the broker is gone; webhooks keep being accepted into the raw store + outbox
        burst(range(BEFORE, BEFORE + DURING))
        assert len(accepted) == 2 * (BEFORE + DURING)
        assert _backlog(client) > 0

        restarted = EmbeddedBroker(port=own_broker.port, log_file=tmp_path / "broker-2.log").start()
        try:
            ensure_topics(restarted.bootstrap, [FEEDBACK_RAW], partitions=1)
            wait_for(lambda: _backlog(client) == 0, timeout_s=120, interval_s=0.5, what="the relay to catch up")
            during = set(accepted) - delivered_before

            def all_delivered() -> set[str] | None:
                # The relay may also resend the items the lost log held, in any order around these:
                # read all there can be (the read's short timeout bounds it), not only len(during) messages.
                subjects = _subjects(restarted.bootstrap, 2 * len(set(accepted)))
                return subjects if subjects >= during else None

            delivered_after = wait_for(all_delivered, timeout_s=60, what="the items accepted while the broker was down")
        finally:
            restarted.stop()
    missing = set(accepted) - (delivered_before | delivered_after)
    assert not missing, f"{len(missing)} accepted items never reached the broker"
