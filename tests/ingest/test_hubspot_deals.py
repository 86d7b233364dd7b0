"""HubSpot deal changes with an access token: the webhook only names the deal; its value and its customer are
read from the CRM API (deal with amount history, CRM v4 associations), replayed by a local server."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from services.ingest.app import create_app
from services.ingest.models import PendingFetch
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker
from shared.contracts import CUSTOMER_EVENTS, CloudEvent, CustomerEvent
from tests.ingest import signing
from tests.ingest.conftest import SECRETS, runtime_of, stored_customer_events
from tests.ingest.provider_server import ProviderServer, Reply, fixture
from tests.kafka_reading import read_topic
from tests.polling import wait_for

TOKEN = "pat-eu1-2f0c7a9e-test"
URI = "http://testserver/v1/webhooks/hubspot"


@pytest.fixture
def client(webhook_settings: IngestSettings, provider_server: ProviderServer) -> Iterator[TestClient]:
    settings = webhook_settings.model_copy(update={
        "hubspot_access_token": SecretStr(TOKEN), "hubspot_api_url": provider_server.url})
    with TestClient(create_app(settings)) as c:
        yield c


def deal_event(event_id: int, deal_id: int, prop: str, value: str) -> dict[str, Any]:
    return {"eventId": event_id, "subscriptionId": 234571, "portalId": 62515, "appId": 987654,
            "occurredAt": 1794150000000, "subscriptionType": "deal.propertyChange", "attemptNumber": 0,
            "objectId": deal_id, "propertyName": prop, "propertyValue": value, "changeSource": "CRM_UI",
            "sourceId": "userId:45678"}


def script_deal(server: ProviderServer, deal_id: int, *, companies: bool = True, contacts: bool = True,
                **properties: str) -> None:
    deal = copy.deepcopy(fixture("hubspot_deal.json"))
    deal["id"] = str(deal_id)
    deal["properties"].update(properties)
    server.route(f"/crm/v3/objects/deals/{deal_id}", Reply(200, deal))
    server.route(f"/crm/v4/objects/deals/{deal_id}/associations/companies",
                 Reply(200, fixture("hubspot_deal_companies.json") if companies else {"results": []}))
    server.route(f"/crm/v4/objects/deals/{deal_id}/associations/contacts",
                 Reply(200, fixture("hubspot_deal_contacts.json") if contacts else {"results": []}))


def post(client: TestClient, events: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps(events).encode()
    response = client.post("/v1/webhooks/hubspot", content=body,
                           headers=signing.hubspot(SECRETS["hubspot_client_secret"], "POST", URI, body))
    assert response.status_code == 202, response.text
    return dict(response.json())


def events_by_id(client: TestClient, expect: int) -> dict[str, dict[str, Any]]:
    def enough() -> list[Any] | None:
        rows = stored_customer_events(client)
        return rows if len(rows) >= expect else None

    rows = wait_for(enough, timeout_s=30, what=f"{expect} customer events")
    return {e.external_id: e.normalised for e in rows}


def fetch_statuses(client: TestClient) -> dict[str, str]:
    with runtime_of(client).sessions() as session:
        return {f.external_id: f.status for f in session.scalars(select(PendingFetch))}


def test_won_and_lost_deals_become_growth_and_churn_of_the_associated_company(
    client: TestClient, provider_server: ProviderServer, broker: EmbeddedBroker
) -> None:
    script_deal(provider_server, 18391284)  # new business, won: 60,000 EUR
    script_deal(provider_server, 18391290, dealstage="closedwon", dealtype="existingbusiness", amount="15000")
    script_deal(provider_server, 18391295, dealstage="closedlost", dealtype="existingbusiness", amount="24000",
                hs_is_closed_won="false")
    answer = post(client, [deal_event(801, 18391284, "dealstage", "closedwon"),
                           deal_event(802, 18391290, "dealstage", "closedwon"),
                           deal_event(803, 18391295, "dealstage", "closedlost"),
                           deal_event(804, 18391284, "dealname", "renamed")])  # not growth or loss: ignored
    assert (answer["status"], answer["queued"], answer["accepted"]) == ("queued", 3, 0)

    events = events_by_id(client, 3)
    assert events["801"]["event_kind"] == "purchase"
    assert events["801"]["value_delta"] == 60000.0
    assert events["801"]["currency"] == "EUR"
    assert events["801"]["customer"]["id"] == "7301948125"  # the Primary company, not the first listed
    assert events["802"]["event_kind"] == "upgrade"
    assert events["802"]["value_delta"] == 15000.0
    assert events["803"]["event_kind"] == "cancellation"
    assert events["803"]["value_delta"] == -24000.0
    assert events["803"]["metadata"]["deal"]["dealtype"] == "existingbusiness"

    seen = provider_server.hits("/crm/v3/objects/deals/18391284")[0]
    assert seen.headers["authorization"] == f"Bearer {TOKEN}"
    assert seen.query["propertiesWithHistory"] == ["amount"]
    records = wait_for(lambda: [r for r in read_topic(broker.bootstrap, CUSTOMER_EVENTS, expect=3, timeout_s=5)
                                if json.loads(r.value)["data"]["external_id"] in {"801", "802", "803"}] or None,
                       timeout_s=30, what="deal events on the topic")
    published = {CloudEvent[CustomerEvent].model_validate_json(r.value).data.external_id: r.key for r in records}
    assert published["801"] == b"id:7301948125"  # keyed by the customer, so its events stay in order


def test_an_amount_change_on_a_won_deal_is_the_difference(
    client: TestClient, provider_server: ProviderServer
) -> None:
    script_deal(provider_server, 18391284)  # history: 48,000 -> 60,000
    post(client, [deal_event(811, 18391284, "amount", "60000")])
    event = events_by_id(client, 1)["811"]
    assert (event["event_kind"], event["value_delta"]) == ("upgrade", 12000.0)


def test_without_a_company_the_contact_is_the_customer(client: TestClient, provider_server: ProviderServer) -> None:
    script_deal(provider_server, 18391300, companies=False)
    post(client, [deal_event(821, 18391300, "dealstage", "closedwon")])
    assert events_by_id(client, 1)["821"]["customer"]["id"] == "65059681032"


def test_a_lost_new_business_deal_is_no_customer_change(
    client: TestClient, provider_server: ProviderServer
) -> None:
    script_deal(provider_server, 18391310, dealstage="closedlost", hs_is_closed_won="false")
    post(client, [deal_event(831, 18391310, "dealstage", "closedlost")])
    assert wait_for(lambda: fetch_statuses(client).get("831") == "done", what="the envelope done")
    assert stored_customer_events(client) == []


def test_a_deal_nobody_is_associated_with_is_parked_not_dropped(
    client: TestClient, provider_server: ProviderServer
) -> None:
    script_deal(provider_server, 18391320, companies=False, contacts=False)
    post(client, [deal_event(841, 18391320, "dealstage", "closedwon")])
    assert wait_for(lambda: fetch_statuses(client).get("841") == "failed", what="the envelope parked")
    with runtime_of(client).sessions() as session:
        parked = session.scalars(select(PendingFetch).where(PendingFetch.external_id == "841")).one()
    assert parked.last_error is not None
    assert "no associated company or contact" in parked.last_error
