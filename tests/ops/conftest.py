"""The ops tests' stack: the four services as processes (``listening-path serve``) over the real broker and a
real database (SQLite, or PostgreSQL with DATABASE_URL), shared by every test of this package."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.catalog import SERVICES
from services.cli.migrate import upgrade_schemas
from services.cli.stack import Stack, child_env
from shared.bus import EmbeddedBroker, free_port
from shared.settings import ServiceSettings
from tests.conftest import _database
from tests.ingest import signing

KEY = "ops-test-api-key-0123456789abcdef"
ADMIN_KEY = "ops-test-admin-key-0123456789abcdef"
TYPEFORM_SECRET = "ops-typeform-secret-0123456789"
SECRETS = (KEY, ADMIN_KEY, TYPEFORM_SECRET)
"""Values that must never appear in a log."""
AUTH = {"X-API-Key": KEY}
FIXTURES = Path(__file__).resolve().parents[1] / "ingest" / "fixtures"


@pytest.fixture(scope="package")
def ops_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """The package's broker."""
    with EmbeddedBroker(log_file=tmp_path_factory.mktemp("broker") / "broker.log") as broker:
        yield broker


@pytest.fixture(scope="package")
def ops_broker_bootstrap(ops_broker: EmbeddedBroker) -> str:
    """Where the package's broker listens."""
    return ops_broker.bootstrap


@pytest.fixture(scope="package")
def ops_stack(ops_broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """All four services, started and ready; their logs are ``stack[name].log_file``."""
    for db in _database(tmp_path_factory.mktemp("data")):
        upgrade_schemas(ServiceSettings(data_dir=db.data_dir, database_url=db.url))
        env = child_env({"LP_KAFKA_BOOTSTRAP": ops_broker.bootstrap, "LP_API_KEY": KEY, "LP_ADMIN_KEY": ADMIN_KEY,
                         "LP_TYPEFORM_SECRET": TYPEFORM_SECRET, "LP_LOG_LEVEL": "INFO", "LP_LOG_JSON": "true",
                         "LP_CONSUMER_MAX_WAIT_MS": "50", **db.env()})
        ports = {name: free_port() for name in SERVICES}
        with Stack(env=env, ports=ports, log_dir=tmp_path_factory.mktemp("logs")) as running:
            yield running


def typeform_webhook(stack: Stack, *, customer: str, traceparent: str | None = None) -> httpx.Response:
    """POST a signed Typeform ``form_response`` (the documented payload) for a new response of ``customer``."""
    doc: dict[str, Any] = json.loads((FIXTURES / "typeform_form_response.json").read_text())
    doc["event_id"] = uuid.uuid4().hex
    doc["form_response"]["token"] = uuid.uuid4().hex
    doc["form_response"]["hidden"]["customer_id"] = customer
    body = json.dumps(doc).encode()
    headers = {**signing.typeform(TYPEFORM_SECRET, body), "Content-Type": "application/json"}
    if traceparent:
        headers["traceparent"] = traceparent
    return httpx.post(f"{stack['ingest'].url}/v1/webhooks/typeform", content=body, headers=headers, timeout=30)


def scrape(stack: Stack, name: str) -> str:
    """One service's ``/metrics``."""
    response = httpx.get(f"{stack[name].url}/metrics", timeout=10)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return response.text
