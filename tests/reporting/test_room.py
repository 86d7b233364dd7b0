"""The customer room's data: a segment narrows every panel to its customers and their voices."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from services.cli.migrate import upgrade_schemas
from services.journey.models import Customer, FeedbackItem
from services.reporting.access.guard import COOKIE
from services.reporting.app import create_app
from services.reporting.rollup_reads import segment_customers
from services.reporting.settings import ReportingSettings
from shared.db import create_db_engine, make_session_factory
from tests.conftest import Database
from tests.journey import dataset
from tests.journey.test_customer_story import EMAIL_KEY, apply_all, in_time_order

KEY = "room-data-key-0123456789abcdef0123"
PERIOD = {"since": "2026-07-01", "until": "2026-10-31"}


@pytest.fixture(scope="module")
def settings(module_database: Database) -> ReportingSettings:
    s = ReportingSettings(data_dir=module_database.data_dir, database_url=module_database.url, api_key=KEY,
                          identity_key=EMAIL_KEY.decode())
    upgrade_schemas(s, ["journey", "reporting"])
    engine = create_db_engine(s.database_url_for("journey"))
    apply_all(make_session_factory(engine), in_time_order(dataset.build()))
    engine.dispose()
    return s


@pytest.fixture(scope="module")
def client(settings: ReportingSettings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        c.cookies.set(COOKIE, KEY)
        yield c


def room(client: TestClient, **params: str) -> dict[str, Any]:
    page = client.get("/room", params={**PERIOD, **params})
    assert page.status_code == 200, page.text
    found = re.search(r'<script type="application/json" id="room-data">(.*?)</script>', page.text, re.S)
    assert found
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def test_a_segment_narrows_every_panel(client: TestClient, settings: ReportingSettings) -> None:
    everyone, enterprise = room(client), room(client, segment="enterprise")
    engine = create_db_engine(settings.database_url_for("journey"))
    with make_session_factory(engine)() as s:
        segment_voices = s.scalar(select(func.count()).select_from(FeedbackItem).where(
            FeedbackItem.customer_id.in_(segment_customers("enterprise")),
            FeedbackItem.occurred_at >= datetime(2026, 7, 1, tzinfo=UTC),
            FeedbackItem.occurred_at < datetime(2026, 11, 1, tzinfo=UTC)))
        at_risk = s.scalar(select(func.count()).select_from(Customer).where(
            Customer.segment == "enterprise", Customer.state == "at_risk", Customer.merged_into.is_(None)))
    engine.dispose()
    assert 0 < enterprise["voices"]["volume"] < everyone["voices"]["volume"]
    assert enterprise["voices"]["volume"] == segment_voices
    assert sum(st["volume"] for st in enterprise["stages"]) <= enterprise["voices"]["volume"]
    assert sum(enterprise["trend"]["volume"]) < sum(everyone["trend"]["volume"])
    assert [st["volume"] for st in enterprise["stages"]] != [st["volume"] for st in everyone["stages"]]
    assert [e["value"] for e in enterprise["experiences"]] != [e["value"] for e in everyone["experiences"]]
    assert [e["trend"]["values"] for e in enterprise["experiences"]] != [e["trend"]["values"]
                                                                          for e in everyone["experiences"]]
    assert enterprise["ledger"]["gained"]["customers"] < everyone["ledger"]["gained"]["customers"]
    assert enterprise["states"].get("at_risk", {}).get("customers", 0) == at_risk
    assert all(c["segment"] == "enterprise" for c in enterprise["at_risk"])


def test_the_room_takes_a_time_zone(client: TestClient) -> None:
    paris = room(client, tz="Europe/Paris")
    assert paris["period"]["tz"] == "Europe/Paris"
    assert client.get("/room", params={"tz": "Nowhere/Land"}).status_code == 422
