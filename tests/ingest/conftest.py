"""Fixtures of the ingest tests: settings with every provider configured, a running app, a provider server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.cli.migrate import upgrade_schemas
from services.ingest.app import create_app
from services.ingest.models import RawCustomerEvent, RawFeedback
from services.ingest.runtime import IngestRuntime
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker
from tests.conftest import Database
from tests.ingest.provider_server import ProviderServer

KEY = "test-ingest-key-0123456789abcdef"
SECRETS = {
    "typeform_secret": "tf-secret-0123456789",
    "surveymonkey_api_key": "sm-client-id",
    "surveymonkey_api_secret": "sm-api-secret",
    "surveymonkey_access_token": "sm-access-token",
    "qualtrics_webhook_token": "qx-shared-token",
    "qualtrics_api_token": "qx-api-token",
    "zendesk_webhook_secret": "zd-signing-secret",
    "hubspot_client_secret": "hs-client-secret",
    "salesforce_webhook_secret": "sf-relay-secret",
}


@pytest.fixture
def provider_server() -> Iterator[ProviderServer]:
    """A local server replaying provider API responses."""
    with ProviderServer() as server:
        yield server


@pytest.fixture
def webhook_settings(broker: EmbeddedBroker, database: Database, provider_server: ProviderServer) -> IngestSettings:
    """Ingest settings with every provider configured and provider APIs on the local server."""
    s = IngestSettings.model_validate({
        "data_dir": database.data_dir, "database_url": database.url, "kafka_bootstrap": broker.bootstrap,
        "api_key": KEY, "kafka_partitions": 1, "surveymonkey_api_url": provider_server.url,
        "qualtrics_api_url": provider_server.url, "score_fields": {"surveymonkey": {"667461878": "csat"}},
        "max_batch_items": 50, **SECRETS,
    })
    upgrade_schemas(s, ["ingest"])
    return s


@pytest.fixture
def webhook_client(webhook_settings: IngestSettings) -> Iterator[TestClient]:
    """The ingest app, started."""
    with TestClient(create_app(webhook_settings)) as c:
        yield c


def runtime_of(client: TestClient) -> IngestRuntime:
    """The app's runtime."""
    runtime: IngestRuntime = client.app.state.runtime  # type: ignore[attr-defined]
    return runtime


def stored_feedback(client: TestClient) -> list[RawFeedback]:
    """Every row of the raw store, oldest first."""
    with runtime_of(client).sessions() as session:
        return list(session.scalars(select(RawFeedback).order_by(RawFeedback.received_at, RawFeedback.external_id)))


def stored_customer_events(client: TestClient) -> list[RawCustomerEvent]:
    """Every stored customer event."""
    with runtime_of(client).sessions() as session:
        return list(session.scalars(select(RawCustomerEvent).order_by(RawCustomerEvent.external_id)))


@pytest.fixture
def sessions(ingest_sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Sessions on a fresh, migrated ingest store (``ingest_sessions``)."""
    return ingest_sessions
