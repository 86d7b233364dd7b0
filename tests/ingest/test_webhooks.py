"""``POST /v1/webhooks/{provider}`` with payloads shaped as each provider documents them (``fixtures/``)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from services.ingest.metrics import REJECTIONS
from services.ingest.settings import IngestSettings
from shared.bus import EmbeddedBroker
from shared.contracts import CUSTOMER_EVENTS, CloudEvent, CustomerEvent
from tests.ingest import signing
from tests.ingest.conftest import SECRETS, stored_customer_events, stored_feedback
from tests.ingest.provider_server import ProviderServer, Reply, fixture, fixture_bytes
from tests.kafka_reading import read_topic
from tests.polling import wait_for


def rejections(provider: str, reason: str, channel: str = "webhook") -> float:
    return float(REJECTIONS.labels(channel, provider, reason)._value.get())


# -- Typeform -------------------------------------------------------------------------------------------------


def test_typeform_response_is_normalised_one_item_per_text_answer(webhook_client: TestClient) -> None:
    body = fixture_bytes("typeform_form_response.json")
    response = webhook_client.post("/v1/webhooks/typeform", content=body,
                                   headers=signing.typeform(SECRETS["typeform_secret"], body))
    assert response.status_code == 202, response.text
    outcome = response.json()
    assert (outcome["status"], outcome["accepted"], outcome["duplicates"]) == ("accepted", 2, 0)
    rows = {r.external_id: r for r in stored_feedback(webhook_client)}
    token = "a3a12ec67a1365927098a606107fac15"
    reason, extra = rows[f"{token}:SMEUb7VJz92Q"].normalised, rows[f"{token}:PNe8ZKBK8C2Q"].normalised
    assert reason["text"].startswith("Setting up the integration took two days")
    assert reason["scores"] == {"nps": 6, "csat": None, "ces": None, "rating": 3.0}
    assert (reason["kind"], reason["source"], reason["provider"]) == ("aided", "survey", "typeform")
    assert reason["customer"] == {"id": "C-1042", "email": "ana@example.com", "handle": None}
    assert reason["occurred_at"].startswith("2026-11-02T14:05:00")
    assert reason["metadata"]["form_id"] == "lT4Z3j"
    assert reason["metadata"]["question"]["title"] == "What is the main reason for your score?"
    assert extra["scores"] == {"nps": None, "csat": None, "ces": None, "rating": None}  # scores counted once
    assert extra["text"] == "The invite email never arrived for two of my colleagues."


def test_a_redelivered_webhook_is_stored_once(webhook_client: TestClient) -> None:
    body = fixture_bytes("typeform_form_response.json")
    headers = signing.typeform(SECRETS["typeform_secret"], body)
    first = webhook_client.post("/v1/webhooks/typeform", content=body, headers=headers).json()
    again = webhook_client.post("/v1/webhooks/typeform", content=body, headers=headers).json()
    assert (again["status"], again["accepted"], again["duplicates"]) == ("duplicate", 0, 2)
    assert [i["id"] for i in again["items"]] == [i["id"] for i in first["items"]]
    assert len(stored_feedback(webhook_client)) == 2


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "missing_signature"),
    ({"Typeform-Signature": "sha256=AAAA"}, "bad_signature"),
    (signing.typeform("some-other-secret", fixture_bytes("typeform_form_response.json")), "bad_signature"),
])
def test_typeform_wrong_or_missing_signature_is_401_and_counted(
    webhook_client: TestClient, headers: dict[str, str], reason: str
) -> None:
    before = rejections("typeform", reason)
    response = webhook_client.post("/v1/webhooks/typeform", content=fixture_bytes("typeform_form_response.json"),
                                   headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == reason
    assert rejections("typeform", reason) == before + 1
    assert stored_feedback(webhook_client) == []


def test_a_tampered_body_fails_the_signature(webhook_client: TestClient) -> None:
    body = fixture_bytes("typeform_form_response.json")
    headers = signing.typeform(SECRETS["typeform_secret"], body)
    tampered = body.replace(b'"number": 6', b'"number": 10')
    response = webhook_client.post("/v1/webhooks/typeform", content=tampered, headers=headers)
    assert response.status_code == 401


def test_other_typeform_events_are_answered_and_ignored(webhook_client: TestClient) -> None:
    doc = fixture("typeform_form_response.json") | {"event_type": "form_response_partial"}
    body = json.dumps(doc).encode()
    response = webhook_client.post("/v1/webhooks/typeform", content=body,
                                   headers=signing.typeform(SECRETS["typeform_secret"], body))
    assert response.status_code == 202
    assert response.json()["status"] == "ignored"
    assert stored_feedback(webhook_client) == []


def test_a_signed_body_that_is_not_json_gets_422(webhook_client: TestClient) -> None:
    body = b'{"event_type": "form_response", '
    response = webhook_client.post("/v1/webhooks/typeform", content=body,
                                   headers=signing.typeform(SECRETS["typeform_secret"], body))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_json"


def test_unknown_providers_are_404(webhook_client: TestClient) -> None:
    response = webhook_client.post("/v1/webhooks/nosuchtool", content=b"{}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_provider"


# -- SurveyMonkey: envelope, then fetch --------------------------------------------------------------------------


def _script_surveymonkey(server: ProviderServer, *first_replies: Reply) -> None:
    server.route("/v3/surveys/313450209/responses/114286985/details", *first_replies,
                 Reply(200, fixture("surveymonkey_response_details.json")))
    server.route("/v3/surveys/313450209/details", Reply(200, fixture("surveymonkey_survey_details.json")))


def test_surveymonkey_envelope_is_stored_then_the_response_is_fetched(
    webhook_client: TestClient, provider_server: ProviderServer
) -> None:
    _script_surveymonkey(provider_server)
    body = fixture_bytes("surveymonkey_response_completed.json")
    headers = signing.surveymonkey(SECRETS["surveymonkey_api_key"], SECRETS["surveymonkey_api_secret"], body)
    response = webhook_client.post("/v1/webhooks/surveymonkey", content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["queued"]) == ("queued", 1)

    rows = wait_for(lambda: stored_feedback(webhook_client), timeout_s=20, what="the fetched response")
    assert len(rows) == 1
    item = rows[0].normalised
    assert item["external_id"] == "114286985:667461877"
    assert item["text"] == "Support fixed my billing problem the same day. Great people."
    assert item["scores"]["nps"] == 9
    assert item["scores"]["csat"] == 5
    assert item["customer"] == {"id": "C-2077", "email": "ben@example.com", "handle": None}
    assert item["metadata"]["question"]["heading"] == "What is the main reason for your score?"
    seen = provider_server.hits("/v3/surveys/313450209/responses/114286985/details")[0]
    assert seen.headers["authorization"] == f"Bearer {SECRETS['surveymonkey_access_token']}"

    again = webhook_client.post("/v1/webhooks/surveymonkey", content=body, headers=headers).json()
    assert (again["status"], again["queued"], again["duplicates"]) == ("duplicate", 0, 1)


def test_surveymonkey_fetch_retries_through_5xx_and_429(
    webhook_client: TestClient, provider_server: ProviderServer
) -> None:
    _script_surveymonkey(provider_server, Reply(503, {"error": "busy"}),
                         Reply(429, {"error": "slow down"}, {"Retry-After": "0"}))
    body = fixture_bytes("surveymonkey_response_completed.json")
    headers = signing.surveymonkey(SECRETS["surveymonkey_api_key"], SECRETS["surveymonkey_api_secret"], body)
    assert webhook_client.post("/v1/webhooks/surveymonkey", content=body, headers=headers).status_code == 202
    wait_for(lambda: stored_feedback(webhook_client), timeout_s=30, what="the fetch after retries")
    assert len(provider_server.hits("/v3/surveys/313450209/responses/114286985/details")) == 3


def test_surveymonkey_signature_uses_key_and_secret(webhook_client: TestClient) -> None:
    body = fixture_bytes("surveymonkey_response_completed.json")
    headers = signing.surveymonkey(SECRETS["surveymonkey_api_key"], "wrong-secret", body)
    response = webhook_client.post("/v1/webhooks/surveymonkey", content=body, headers=headers)
    assert response.status_code == 401
    assert webhook_client.head("/v1/webhooks/surveymonkey").status_code == 200


# -- Qualtrics: form envelope, then fetch ------------------------------------------------------------------------


def test_qualtrics_form_envelope_then_fetch(webhook_client: TestClient, provider_server: ProviderServer) -> None:
    provider_server.route("/API/v3/surveys/SV_3pWxF8mYk2rTq5g/responses/R_1dtRXv8Kq4sZ2bE",
                          Reply(200, fixture("qualtrics_response.json")))
    body = fixture_bytes("qualtrics_completed_response.form")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    refused = webhook_client.post("/v1/webhooks/qualtrics?token=guess", content=body, headers=headers)
    assert refused.status_code == 401
    response = webhook_client.post(f"/v1/webhooks/qualtrics?token={SECRETS['qualtrics_webhook_token']}",
                                   content=body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["queued"] == 1
    rows = wait_for(lambda: stored_feedback(webhook_client), timeout_s=20, what="the fetched Qualtrics response")
    item = rows[0].normalised
    assert item["external_id"] == "R_1dtRXv8Kq4sZ2bE:QID2_TEXT"
    assert item["text"].startswith("Renewal pricing went up 30%")
    assert item["scores"]["nps"] == 3
    assert item["customer"]["id"] == "C-3310"
    assert item["customer"]["email"] == "carla@example.com"
    assert item["occurred_at"].startswith("2026-11-02T16:00:00")
    seen = provider_server.hits("/API/v3/surveys/SV_3pWxF8mYk2rTq5g/responses/R_1dtRXv8Kq4sZ2bE")[0]
    assert seen.headers["x-api-token"] == SECRETS["qualtrics_api_token"]


def test_a_fetch_that_keeps_failing_is_parked_not_lost(
    webhook_client: TestClient, provider_server: ProviderServer
) -> None:
    provider_server.route("/API/v3/surveys/SV_3pWxF8mYk2rTq5g/responses/R_1dtRXv8Kq4sZ2bE",
                          Reply(404, {"meta": {"httpStatus": "404 - Not Found"}}))
    body = fixture_bytes("qualtrics_completed_response.form")
    webhook_client.post(f"/v1/webhooks/qualtrics?token={SECRETS['qualtrics_webhook_token']}", content=body,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    from services.ingest.intake.repository import PendingFetchRepository
    from tests.ingest.conftest import runtime_of

    def parked() -> dict[str, int] | None:
        with runtime_of(webhook_client).sessions() as session:
            counts = PendingFetchRepository(session).counts()
        return counts if counts.get("failed") else None

    assert wait_for(parked, timeout_s=20, what="the envelope parked as failed") == {"failed": 1}


# -- Zendesk ----------------------------------------------------------------------------------------------------


def test_zendesk_satisfaction_rating(webhook_client: TestClient) -> None:
    body = fixture_bytes("zendesk_satisfaction_rating.json")
    response = webhook_client.post("/v1/webhooks/zendesk", content=body,
                                   headers=signing.zendesk(SECRETS["zendesk_webhook_secret"], body))
    assert response.status_code == 202, response.text
    (row,) = stored_feedback(webhook_client)
    item = row.normalised
    assert (item["source"], item["kind"], item["external_id"]) == ("support", "aided", "208:35436")
    assert item["scores"]["csat"] == 1
    assert item["text"].startswith("Took three days")
    assert item["customer"]["id"] == "C-4410"
    assert item["metadata"]["satisfaction_rating"]["reason"] == "Issue took too long to resolve"


@pytest.mark.parametrize(("shift", "reason"), [(timedelta(minutes=-10), "stale_timestamp"),
                                               (timedelta(minutes=10), "stale_timestamp")])
def test_zendesk_replays_outside_the_window_are_refused(
    webhook_client: TestClient, shift: timedelta, reason: str
) -> None:
    body = fixture_bytes("zendesk_satisfaction_rating.json")
    headers = signing.zendesk(SECRETS["zendesk_webhook_secret"], body, at=datetime.now(UTC) + shift)
    before = rejections("zendesk", reason)
    response = webhook_client.post("/v1/webhooks/zendesk", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == reason
    assert rejections("zendesk", reason) == before + 1
    headers.pop("X-Zendesk-Webhook-Signature-Timestamp")
    assert webhook_client.post("/v1/webhooks/zendesk", content=body, headers=headers).json()["error"]["code"] == \
        "missing_timestamp"


# -- HubSpot and Salesforce → customer events ----------------------------------------------------------------------


def test_hubspot_changes_become_customer_events(webhook_client: TestClient, broker: EmbeddedBroker) -> None:
    body = fixture_bytes("hubspot_events.json")
    uri = "http://testserver/v1/webhooks/hubspot"
    response = webhook_client.post("/v1/webhooks/hubspot", content=body,
                                   headers=signing.hubspot(SECRETS["hubspot_client_secret"], "POST", uri, body))
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 3  # the deletion is not growth or loss
    events = {e.external_id: e.normalised for e in stored_customer_events(webhook_client)}
    assert events["1957463519"]["event_kind"] == "created"
    assert events["1957463519"]["customer"]["id"] == "65059681032"
    assert events["1957463520"]["owner"] == "88123"
    assert events["1957463521"]["event_kind"] == "purchase"

    ids = {e.event_id for e in stored_customer_events(webhook_client)}
    records = wait_for(lambda: [r for r in read_topic(broker.bootstrap, CUSTOMER_EVENTS, expect=3, timeout_s=5)
                                if json.loads(r.value)["id"] in ids] or None, timeout_s=30,
                       what="customer events on the topic")
    published = {CloudEvent[CustomerEvent].model_validate_json(r.value).data.external_id for r in records}
    assert published == {"1957463519", "1957463520", "1957463521"}
    assert {r.key for r in records if json.loads(r.value)["data"]["external_id"] == "1957463519"} == \
        {b"id:65059681032"}


def test_hubspot_requests_older_than_five_minutes_are_refused(webhook_client: TestClient) -> None:
    body = fixture_bytes("hubspot_events.json")
    uri = "http://testserver/v1/webhooks/hubspot"
    old = int((time.time() - 301) * 1000)
    headers = signing.hubspot(SECRETS["hubspot_client_secret"], "POST", uri, body, at_ms=old)
    response = webhook_client.post("/v1/webhooks/hubspot", content=body, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "stale_timestamp"
    wrong_uri = signing.hubspot(SECRETS["hubspot_client_secret"], "POST", "https://elsewhere/hook", body)
    assert webhook_client.post("/v1/webhooks/hubspot", content=body, headers=wrong_uri).status_code == 401
    assert stored_customer_events(webhook_client) == []


def test_salesforce_account_and_opportunity_changes(webhook_client: TestClient) -> None:
    body = json.dumps([fixture("salesforce_account_change.json"),
                       fixture("salesforce_opportunity_change.json")]).encode()
    response = webhook_client.post("/v1/webhooks/salesforce", content=body,
                                   headers=signing.relay(SECRETS["salesforce_webhook_secret"], body))
    assert response.status_code == 202, response.text
    events = {e.external_id: e.normalised for e in stored_customer_events(webhook_client)}
    account, upgrade = events["6711"], events["6712"]
    assert account["event_kind"] == "created"
    assert (account["value"], account["segment"], account["owner"]) == (1200000.0, "Customer - Direct",
                                                                         "0055e000001AbcDAAS")
    assert upgrade["event_kind"] == "upgrade"
    assert (upgrade["value_delta"], upgrade["currency"]) == (48000.0, "EUR")
    assert account["customer"]["id"] == upgrade["customer"]["id"] == "0015e00000ABCDEAA4"
    stale = signing.relay(SECRETS["salesforce_webhook_secret"], body, at=int(time.time()) - 3600)
    assert webhook_client.post("/v1/webhooks/salesforce", content=body, headers=stale).status_code == 401


def test_a_provider_without_a_secret_is_refused(webhook_settings: IngestSettings) -> None:
    from services.ingest.app import create_app

    settings = webhook_settings.model_copy(update={"typeform_secret": None})
    with TestClient(create_app(settings)) as client:
        body = fixture_bytes("typeform_form_response.json")
        response = client.post("/v1/webhooks/typeform", content=body,
                               headers=signing.typeform(SECRETS["typeform_secret"], body))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "webhook_not_configured"
