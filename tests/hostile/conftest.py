"""Fixtures of the hostile tests: each service's app, started on a real database (and broker where it needs one),
configured with test keys and every provider secret, so a test can attack it with or without credentials."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.cli.migrate import upgrade_schemas
from services.ingest.app import create_app as create_ingest_app
from services.ingest.settings import IngestSettings
from services.journey.alerts.service import AlertPolicy
from services.journey.app import create_app as create_journey_app
from services.journey.settings import DEMO_JOURNEY_MAP, JourneySettings
from services.journey.story.service import StoryContext, apply_enriched
from services.nlp.app import create_app as create_nlp_app
from services.nlp.models import Analyzer
from services.nlp.settings import NlpSettings
from services.reporting.app import create_app as create_reporting_app
from services.reporting.settings import ReportingSettings
from shared.bus import EmbeddedBroker
from shared.contracts import CustomerRef, JourneyMap, SentimentLabel
from shared.db import create_db_engine, make_session_factory, transaction
from tests.conftest import Database
from tests.factories import enriched_event
from tests.ingest.conftest import KEY as INGEST_KEY
from tests.ingest.conftest import SECRETS

KEY = INGEST_KEY
"""The API key every app under test is configured with."""
ADMIN_KEY = "test-admin-key-0123456789abcdef"
IDENTITY_KEY = "test-identity-key-0123456789abcdef"
AUTH = {"X-API-Key": KEY}
__all__ = ["ADMIN_KEY", "AUTH", "KEY", "SECRETS"]


@pytest.fixture(scope="module")
def ingest_settings(broker: EmbeddedBroker, module_database: Database) -> IngestSettings:
    """Ingest with every provider configured (small batch limit, default body limit)."""
    s = IngestSettings(
        data_dir=module_database.data_dir, database_url=module_database.url, kafka_bootstrap=broker.bootstrap,
        api_key=KEY, identity_key=IDENTITY_KEY, kafka_partitions=1, max_batch_items=50, **SECRETS,
    )
    upgrade_schemas(s, ["ingest"])
    return s


@pytest.fixture(scope="module")
def ingest_app(ingest_settings: IngestSettings) -> FastAPI:
    return create_ingest_app(ingest_settings)


@pytest.fixture(scope="module")
def ingest_client(ingest_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(ingest_app) as client:
        yield client


@pytest.fixture(scope="session")
def shared_analyzer() -> Analyzer:
    """The NLP models, loaded once for the whole session (they are read-only)."""
    return Analyzer.load(JourneyMap.load(DEMO_JOURNEY_MAP), threads=2)


@pytest.fixture(scope="module")
def nlp_settings(broker: EmbeddedBroker, module_database: Database) -> NlpSettings:
    return NlpSettings(data_dir=module_database.data_dir, database_url=module_database.url,
                       kafka_bootstrap=broker.bootstrap, api_key=KEY, identity_key=IDENTITY_KEY, kafka_partitions=1,
                       analyze_max_texts=8)


@pytest.fixture(scope="module")
def nlp_app(nlp_settings: NlpSettings, shared_analyzer: Analyzer) -> Iterator[FastAPI]:
    """The NLP app, whose runtime reuses the session's loaded models instead of loading its own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Analyzer, "load", classmethod(lambda cls, *a, **k: shared_analyzer))
        yield create_nlp_app(nlp_settings)


@pytest.fixture(scope="module")
def nlp_client(nlp_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(nlp_app) as client:
        yield client


@pytest.fixture(scope="module")
def reporting_settings(module_database: Database) -> ReportingSettings:
    """Reporting over a small story store (a few customers and tagged voices)."""
    s = ReportingSettings(data_dir=module_database.data_dir, database_url=module_database.url, api_key=KEY,
                          identity_key=IDENTITY_KEY, rate_limit="100000/minute")
    upgrade_schemas(s, ["journey", "reporting"])
    _seed_story(s)
    return s


def _seed_story(settings: ReportingSettings) -> None:
    start = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    journey_map = JourneyMap.load(DEMO_JOURNEY_MAP)
    stages = journey_map.stage_ids()
    labels = [SentimentLabel.NEGATIVE, SentimentLabel.NEUTRAL, SentimentLabel.POSITIVE]
    events = [enriched_event(stage=stages[i % len(stages)], sentiment=labels[i % 3],
                             customer=CustomerRef(id=f"C-{i % 4}"), occurred_at=start + timedelta(hours=7 * i),
                             text=f"voice number {i}") for i in range(16)]
    engine = create_db_engine(settings.database_url_for("journey"))
    with transaction(make_session_factory(engine)) as session:
        ctx = StoryContext(journey_map=journey_map, email_key=IDENTITY_KEY.encode(), alerts=AlertPolicy())
        apply_enriched(session=session, events=events, ctx=ctx)
    engine.dispose()


@pytest.fixture(scope="module")
def reporting_app(reporting_settings: ReportingSettings) -> FastAPI:
    return create_reporting_app(reporting_settings)


@pytest.fixture(scope="module")
def reporting_client(reporting_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(reporting_app) as client:
        yield client


@pytest.fixture(scope="module")
def journey_settings(broker: EmbeddedBroker, module_database: Database) -> JourneySettings:
    s = JourneySettings(data_dir=module_database.data_dir, database_url=module_database.url,
                        kafka_bootstrap=broker.bootstrap, api_key=KEY, admin_key=ADMIN_KEY,
                        identity_key=IDENTITY_KEY, kafka_partitions=1)
    upgrade_schemas(s, ["journey"])
    return s


@pytest.fixture(scope="module")
def journey_client(journey_settings: JourneySettings) -> Iterator[TestClient]:
    with TestClient(create_journey_app(journey_settings)) as client:
        yield client
