"""Hostile request bodies and signature headers: each gets a 4xx with a machine-readable reason, never a 500.

Oversized bodies are refused before they are read (a declared Content-Length without reading anything; a
chunked body as soon as the count passes the limit); JSON nested 10,000 deep, JSON that is not UTF-8 and a
Content-Type the operation does not take are refused before an endpoint runs; every provider's webhook
refuses malformed signatures and timestamps outside the replay window with 401.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response

from services.ingest.settings import IngestSettings
from shared.http.bodies import json_depth_exceeds, json_has_unstorable_text
from tests.hostile.conftest import ADMIN_KEY, AUTH, SECRETS
from tests.ingest import signing
from tests.ingest.provider_server import fixture_bytes

DEEP = b"[" * 10_000 + b"]" * 10_000
NOT_UTF8 = b'{"provider": "web", "text": "caf\xe9 \xff\xfe"}'
FEEDBACK = {"provider": "web", "source": "survey", "text": "The export button is hidden", "scores": {"nps": 7}}


def error_code(response: Response, status: int) -> str:
    """The error code of a refusal, after checking its status and that the body is the one error format."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"]
    assert error["message"]
    return str(error["code"])


def signed_typeform(body: bytes) -> dict[str, str]:
    return {**signing.typeform(SECRETS["typeform_secret"], body), "Content-Type": "application/json"}


# -- an ASGI driver that sees how much of the body the app read -----------------------------------------------


class Upload:
    """Feeds a request body in chunks and counts how many the app pulled."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def receive(self) -> dict[str, Any]:
        if self.pulled >= len(self.chunks):
            await asyncio.sleep(3600)  # a well-behaved app never asks again after the last chunk
        self.pulled += 1
        return {"type": "http.request", "body": self.chunks[self.pulled - 1],
                "more_body": self.pulled < len(self.chunks)}


def drive(app: FastAPI, path: str, headers: dict[str, str], upload: Upload) -> tuple[int, dict[str, Any]]:
    """One POST straight into the ASGI app; (status, JSON body)."""
    sent: list[dict[str, Any]] = []
    path, _, query = path.partition("?")
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": query.encode(), "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 5000), "server": ("testserver", 80), "state": {}}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run() -> None:
        await asyncio.wait_for(app(scope, upload.receive, send), timeout=30)

    asyncio.run(run())
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, "exactly one response"
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], json.loads(body)


# -- size ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/feedback", "/v1/webhooks/typeform", "/v1/webhooks/qualtrics?token=x"])
def test_a_declared_oversized_body_is_refused_without_reading_it(
        ingest_client: TestClient, ingest_app: FastAPI, ingest_settings: IngestSettings, path: str) -> None:
    upload = Upload([b"x" * 1024])
    headers = {**AUTH, "content-type": "application/json", "content-length": str(ingest_settings.max_body_bytes + 1)}
    status, body = drive(ingest_app, path, headers, upload)
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert upload.pulled == 0, "nothing of the body was read"


@pytest.mark.parametrize(("path", "content_type"), [
    ("/v1/feedback", "application/json"),
    ("/v1/webhooks/typeform", "application/json"),
    (f"/v1/webhooks/qualtrics?token={SECRETS['qualtrics_webhook_token']}", "application/x-www-form-urlencoded"),
])
def test_a_chunked_oversized_body_is_refused_as_soon_as_it_passes_the_limit(
        ingest_client: TestClient, ingest_app: FastAPI, ingest_settings: IngestSettings, path: str,
        content_type: str) -> None:
    chunk = 256 * 1024
    over_at = ingest_settings.max_body_bytes // chunk + 1  # the chunk that crosses the limit
    upload = Upload([b"a" * chunk] * (over_at + 20))
    status, body = drive(ingest_app, path, {**AUTH, "content-type": content_type}, upload)
    assert (status, body["error"]["code"]) == (413, "payload_too_large")
    assert upload.pulled == over_at, "reading stopped at the chunk that crossed the limit"


def test_nlp_refuses_an_oversized_declared_body(nlp_client: TestClient, nlp_app: FastAPI) -> None:
    upload = Upload([b"{}"])
    status, body = drive(nlp_app, "/v1/analyze",
                         {**AUTH, "content-type": "application/json", "content-length": str(10**9)}, upload)
    assert (status, body["error"]["code"], upload.pulled) == (413, "payload_too_large", 0)


def test_a_batch_over_the_item_limit_is_413(ingest_client: TestClient, ingest_settings: IngestSettings) -> None:
    items = [{**FEEDBACK, "external_id": f"over-{n}"} for n in range(ingest_settings.max_batch_items + 1)]
    response = ingest_client.post("/v1/feedback", json={"items": items}, headers=AUTH)
    assert error_code(response, 413) == "batch_too_large"


# -- deep JSON, invalid UTF-8, wrong content type --------------------------------------------------------------


def test_ten_thousand_nested_arrays_are_refused_everywhere(ingest_client: TestClient, nlp_client: TestClient) -> None:
    json_headers = {**AUTH, "content-type": "application/json"}
    assert error_code(ingest_client.post("/v1/feedback", content=DEEP, headers=json_headers), 400) == "json_too_deep"
    deep_object = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
    assert error_code(ingest_client.post("/v1/feedback", content=deep_object, headers=json_headers),
                      400) == "json_too_deep"
    webhook = ingest_client.post("/v1/webhooks/typeform", content=DEEP, headers=signed_typeform(DEEP))
    assert error_code(webhook, 400) == "json_too_deep"
    assert error_code(nlp_client.post("/v1/analyze", content=DEEP, headers=json_headers), 400) == "json_too_deep"


def test_nesting_just_under_the_limit_is_stored_verbatim(ingest_client: TestClient) -> None:
    nested: Any = "bottom"
    for _ in range(60):
        nested = {"n": nested}
    item = {**FEEDBACK, "external_id": "nested-60", "metadata": {"deep": nested}}
    response = ingest_client.post("/v1/feedback", json=item, headers=AUTH)
    assert response.status_code == 202, response.text
    payload = json.loads(fixture_bytes("typeform_form_response.json"))
    payload["form_response"]["hidden"] = {"customer_id": "C-9", "x": nested}
    body = json.dumps(payload).encode()
    webhook = ingest_client.post("/v1/webhooks/typeform", content=body, headers=signed_typeform(body))
    assert webhook.status_code == 202, webhook.text


def test_brackets_inside_strings_do_not_count() -> None:
    inside = json.dumps({"text": "[" * 500 + '\\"{{{' * 100, "quote": 'say "[[[["', "list": [[[1]]]}).encode()
    assert not json_depth_exceeds(inside, 64)
    assert json_depth_exceeds(b'{"a": "x\\\\", "b": ' + b"[" * 65 + b"]" * 65 + b"}", 64)
    assert not json_depth_exceeds(b"[" * 64 + b"]" * 64, 64)


def test_json_that_is_not_utf8_is_refused(ingest_client: TestClient, nlp_client: TestClient) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    assert error_code(ingest_client.post("/v1/feedback", content=NOT_UTF8, headers=headers), 400) == "invalid_encoding"
    webhook = ingest_client.post("/v1/webhooks/typeform", content=NOT_UTF8, headers=signed_typeform(NOT_UTF8))
    assert error_code(webhook, 400) == "invalid_encoding"
    analyze = b'{"items": [{"text": "\xc3\x28"}]}'
    assert error_code(nlp_client.post("/v1/analyze", content=analyze, headers=headers), 400) == "invalid_encoding"


def test_a_form_that_is_not_utf8_is_refused_with_a_reason(ingest_client: TestClient) -> None:
    body = b"Topic=surveyengine.completedResponse.SV_1&SurveyID=SV_1&ResponseID=R_\xff\xfe"
    response = ingest_client.post(f"/v1/webhooks/qualtrics?token={SECRETS['qualtrics_webhook_token']}",
                                  content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert error_code(response, 422) == "invalid_form"


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "multipart/form-data; boundary=x",
                                          "application/x-www-form-urlencoded", "image/png"])
def test_a_content_type_the_operation_does_not_take_is_415(ingest_client: TestClient, nlp_client: TestClient,
                                                           content_type: str) -> None:
    body = json.dumps(FEEDBACK).encode()
    headers = {**AUTH, "content-type": content_type}
    assert error_code(ingest_client.post("/v1/feedback", content=body, headers=headers),
                      415) == "unsupported_media_type"
    analyze = json.dumps({"items": [{"text": "hello"}]}).encode()
    assert error_code(nlp_client.post("/v1/analyze", content=analyze, headers=headers),
                      415) == "unsupported_media_type"
    if not content_type.startswith("application/x-www-form-urlencoded"):
        webhook = ingest_client.post("/v1/webhooks/typeform", content=body,
                                     headers={**signing.typeform(SECRETS["typeform_secret"], body),
                                              "Content-Type": content_type})
        assert error_code(webhook, 415) == "unsupported_media_type"


def test_json_with_a_vendor_type_or_no_type_is_read_as_json(ingest_client: TestClient) -> None:
    for n, headers in enumerate([{"content-type": "application/vnd.lp.feedback+json"}, {}]):
        body = json.dumps({**FEEDBACK, "external_id": f"typed-{n}"}).encode()
        response = ingest_client.post("/v1/feedback", content=body, headers={**AUTH, **headers})
        assert response.status_code == 202, response.text


def test_malformed_json_is_422_with_a_reason(ingest_client: TestClient, nlp_client: TestClient) -> None:
    headers = {**AUTH, "content-type": "application/json"}
    for body in (b"", b"{", b"[1,]", b'{"provider": "web",}', b"\x00\x00", b"nul", b"1e999999"):
        for client, path in ((ingest_client, "/v1/feedback"), (nlp_client, "/v1/analyze")):
            response = client.post(path, content=body, headers=headers)
            assert 400 <= response.status_code < 500, (path, body, response.text)
            assert response.json()["error"]["code"], (path, body)
    webhook = ingest_client.post("/v1/webhooks/typeform", content=b"{", headers=signed_typeform(b"{"))
    assert error_code(webhook, 422) == "invalid_json"


# -- signatures ------------------------------------------------------------------------------------------------


def _valid_headers(provider: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The path and headers of a correctly signed call (the baseline each mutation spoils)."""
    path = f"/v1/webhooks/{provider}"
    if provider == "typeform":
        return path, signed_typeform(body)
    if provider == "surveymonkey":
        return path, signing.surveymonkey(SECRETS["surveymonkey_api_key"], SECRETS["surveymonkey_api_secret"], body)
    if provider == "zendesk":
        return path, signing.zendesk(SECRETS["zendesk_webhook_secret"], body)
    if provider == "hubspot":
        return path, signing.hubspot(SECRETS["hubspot_client_secret"], "POST", f"http://testserver{path}", body)
    if provider == "salesforce":
        return path, signing.relay(SECRETS["salesforce_webhook_secret"], body)
    raise AssertionError(provider)


SIGNATURE_HEADER = {"typeform": "Typeform-Signature", "surveymonkey": "Sm-Signature", "zendesk":
                    "X-Zendesk-Webhook-Signature", "hubspot": "X-HubSpot-Signature-v3", "salesforce": "X-LP-Signature"}
MALFORMED: dict[str, Callable[[str], str]] = {
    "garbage": lambda good: "%%%not a signature%%%",
    "wrong prefix": lambda good: "sha1=" + good.split("=", 1)[-1] if good.startswith("sha256=") else "sha256=" + good,
    "empty": lambda good: "",
    "whitespace": lambda good: "   ",
    "not base64 or hex": lambda good: "zz" * 32 + "!!",
    "truncated": lambda good: good[:-4],
    "huge": lambda good: "A" * 200_000,
    "non-ascii": lambda good: "sha256=\u00e9\u00e8" + good,
    "another key": lambda good: "sha256=" + "0" * 64 if good.startswith("sha256=") else "A" * 44,
}


@pytest.mark.parametrize("provider", sorted(SIGNATURE_HEADER))
@pytest.mark.parametrize("mutation", sorted(MALFORMED))
def test_malformed_signatures_are_401_with_a_reason(ingest_client: TestClient, provider: str, mutation: str) -> None:
    body = b'{"event_type": "form_response"}'
    path, headers = _valid_headers(provider, body)
    name = SIGNATURE_HEADER[provider]
    sent: dict[str, str | bytes] = {**headers, name: MALFORMED[mutation](headers[name]).encode("utf-8")}
    code = error_code(ingest_client.post(path, content=body, headers=sent), 401)
    assert code in {"bad_signature", "missing_signature"}


@pytest.mark.parametrize("provider", sorted(SIGNATURE_HEADER))
def test_a_missing_signature_is_401(ingest_client: TestClient, provider: str) -> None:
    body = b"{}"
    path, headers = _valid_headers(provider, body)
    del headers[SIGNATURE_HEADER[provider]]
    assert error_code(ingest_client.post(path, content=body, headers=headers), 401) == "missing_signature"


@pytest.mark.parametrize("token", ["", "guess", " " * 3, "%00", "x" * 10_000, SECRETS["qualtrics_webhook_token"][:-1],
                                   SECRETS["qualtrics_webhook_token"] + "x", "\u00e9t\u00e9"])
def test_qualtrics_tokens_that_do_not_match_are_401(ingest_client: TestClient, token: str) -> None:
    response = ingest_client.post("/v1/webhooks/qualtrics", params={"token": token},
                                  content=fixture_bytes("qualtrics_completed_response.form"),
                                  headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert error_code(response, 401) in {"bad_signature", "missing_signature"}


REPLAY_WINDOW = IngestSettings.model_fields["webhook_replay_window_s"].default


@pytest.mark.parametrize("age_s", [-REPLAY_WINDOW - 60, REPLAY_WINDOW + 60, 86_400 * 365])
def test_timestamps_outside_the_replay_window_are_401(ingest_client: TestClient, age_s: float) -> None:
    body = fixture_bytes("zendesk_satisfaction_rating.json")
    at = datetime.now(UTC) - timedelta(seconds=age_s)
    calls = {
        "zendesk": signing.zendesk(SECRETS["zendesk_webhook_secret"], body, at=at),
        "hubspot": signing.hubspot(SECRETS["hubspot_client_secret"], "POST", "http://testserver/v1/webhooks/hubspot",
                                   body, at_ms=int(at.timestamp() * 1000)),
        "salesforce": signing.relay(SECRETS["salesforce_webhook_secret"], body, at=int(at.timestamp())),
    }
    for provider, headers in calls.items():
        response = ingest_client.post(f"/v1/webhooks/{provider}", content=body, headers=headers)
        assert error_code(response, 401) == "stale_timestamp", provider


TIMESTAMP_HEADER = {"zendesk": "X-Zendesk-Webhook-Signature-Timestamp", "hubspot": "X-HubSpot-Request-Timestamp",
                    "salesforce": "X-LP-Timestamp"}


@pytest.mark.parametrize("provider", sorted(TIMESTAMP_HEADER))
@pytest.mark.parametrize("value", ["", "yesterday", "nan", "NaN", "inf", "-inf", "1e309", "9" * 5000, "1" * 4000,
                                   "0x10", "2026-13-45T99:99:99Z", "\u0661\u0662\u0663"])
def test_unreadable_or_non_finite_timestamps_are_401(ingest_client: TestClient, provider: str, value: str) -> None:
    body = b"{}"
    path, headers = _valid_headers(provider, body)
    sent: dict[str, str | bytes] = {**headers, TIMESTAMP_HEADER[provider]: value.encode("utf-8")}
    code = error_code(ingest_client.post(path, content=body, headers=sent), 401)
    assert code in {"bad_timestamp", "stale_timestamp", "missing_timestamp"}, code


def test_a_valid_signature_still_passes(ingest_client: TestClient) -> None:
    """The baseline the mutations spoil: the same calls, correctly signed, are accepted."""
    body = fixture_bytes("zendesk_satisfaction_rating.json")
    path, headers = _valid_headers("zendesk", body)
    assert ingest_client.post(path, content=body, headers=headers).status_code == 202


@pytest.mark.parametrize(("content_type", "status"), [
    ("application/yaml", 201), ("text/yaml", 201), ("application/x-yaml", 201), ("application/json", 201),
    ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
])
def test_the_journey_map_takes_yaml_by_any_of_its_names(journey_client: TestClient, content_type: str,
                                                         status: int) -> None:
    current = journey_client.get("/v1/journey-map", headers=AUTH).json()
    current["version"] += 1
    body = json.dumps(current).encode()  # JSON is YAML
    response = journey_client.post("/v1/journey-map", content=body,
                                   headers={"X-API-Key": ADMIN_KEY, "Content-Type": content_type})
    assert response.status_code == status, response.text
    if status == 415:
        assert response.json()["error"]["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b'{"text": "nul \\u0000 inside"}', True),
        (b'{"text": "lone \\udbff surrogate"}', True),
        (b'{"\\udc00": "lone surrogate in a key"}', True),
        (b'{"text": "a pair \\ud83d\\ude00 is an emoji"}', False),
        (b'{"text": "plain"}', False),
        (b'{"text": "not json \\u0000', False),
    ],
)
def test_text_postgresql_cannot_store_is_refused(body: bytes, refused: bool) -> None:
    assert json_has_unstorable_text(body) is refused
