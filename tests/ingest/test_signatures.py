"""The one signature verifier, for every provider's scheme: valid signatures pass, anything else is refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.webhooks.adapters import ADAPTERS
from services.ingest.webhooks.signatures import SignatureRejected, SignedRequest, verify

NOW = 1_762_100_000.0
HMAC_PROVIDERS = sorted(name for name, a in ADAPTERS.items() if a.scheme.kind == "hmac")


def signed(provider: str, key: bytes, body: bytes, *, at: float = NOW) -> SignedRequest:
    scheme = ADAPTERS[provider].scheme
    timestamp = ""
    headers: dict[str, str] = {}
    if scheme.timestamp_header:
        timestamp = {"unix_ms": str(int(at * 1000)), "unix_s": str(int(at)),
                     "iso8601": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}[scheme.timestamp_format]
        headers[scheme.timestamp_header] = timestamp
    bare = SignedRequest("POST", "https://lp.example/v1/webhooks/" + provider, headers, {}, body)
    headers[scheme.location] = scheme.sign(key, bare, timestamp)
    return SignedRequest(bare.method, bare.url, headers, {}, body)


@settings(max_examples=40, deadline=None)
@given(provider=st.sampled_from(HMAC_PROVIDERS), key=st.binary(min_size=1, max_size=64), body=st.binary(max_size=512))
def test_every_scheme_accepts_its_own_signature(provider: str, key: bytes, body: bytes) -> None:
    verify(ADAPTERS[provider].scheme, signed(provider, key, body), key, replay_window_s=300, now=NOW)


@settings(max_examples=40, deadline=None)
@given(provider=st.sampled_from(HMAC_PROVIDERS), key=st.binary(min_size=1, max_size=64),
       body=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_change_to_the_body_is_refused(provider: str, key: bytes, body: bytes, data: st.DataObject) -> None:
    request = signed(provider, key, body)
    index = data.draw(st.integers(0, len(body) - 1))
    tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1:]
    with pytest.raises(SignatureRejected) as info:
        verify(ADAPTERS[provider].scheme, SignedRequest(request.method, request.url, request.headers, {}, tampered),
               key, replay_window_s=300, now=NOW)
    assert info.value.reason == "bad_signature"


@pytest.mark.parametrize("provider", [p for p in HMAC_PROVIDERS if ADAPTERS[p].scheme.timestamp_header])
@pytest.mark.parametrize("age", [-301.0, 301.0, 86_400.0])
def test_timestamps_outside_the_window_are_refused(provider: str, age: float) -> None:
    request = signed(provider, b"k", b"{}", at=NOW - age)
    with pytest.raises(SignatureRejected) as info:
        verify(ADAPTERS[provider].scheme, request, b"k", replay_window_s=300, now=NOW)
    assert info.value.reason == "stale_timestamp"
    verify(ADAPTERS[provider].scheme, signed(provider, b"k", b"{}", at=NOW - 299), b"k", replay_window_s=300, now=NOW)


@pytest.mark.parametrize("provider", HMAC_PROVIDERS)
def test_missing_or_foreign_signatures_are_refused(provider: str) -> None:
    scheme = ADAPTERS[provider].scheme
    request = signed(provider, b"right", b"{}")
    with pytest.raises(SignatureRejected) as wrong_key:
        verify(scheme, request, b"wrong", replay_window_s=300, now=NOW)
    assert wrong_key.value.reason == "bad_signature"
    headers = {k: v for k, v in request.headers.items() if k != scheme.location}
    with pytest.raises(SignatureRejected) as missing:
        verify(scheme, SignedRequest("POST", request.url, headers, {}, b"{}"), b"right", replay_window_s=300, now=NOW)
    assert missing.value.reason == "missing_signature"
    with pytest.raises(SignatureRejected) as unconfigured:
        verify(scheme, request, None, replay_window_s=300, now=NOW)
    assert unconfigured.value.reason == "not_configured"


def test_hubspot_signs_method_and_url() -> None:
    scheme = ADAPTERS["hubspot"].scheme
    request = signed("hubspot", b"secret", b"[]")
    moved = SignedRequest("POST", "https://other.example/v1/webhooks/hubspot", request.headers, {}, b"[]")
    with pytest.raises(SignatureRejected):
        verify(scheme, moved, b"secret", replay_window_s=300, now=NOW)


def test_token_scheme_compares_the_query_token() -> None:
    scheme = ADAPTERS["qualtrics"].scheme
    ok = SignedRequest("POST", "u", {}, {"token": "shared"}, b"")
    verify(scheme, ok, b"shared", replay_window_s=300)
    with pytest.raises(SignatureRejected):
        verify(scheme, SignedRequest("POST", "u", {}, {"token": "guess"}, b""), b"shared", replay_window_s=300)


def test_unreadable_timestamps_are_refused() -> None:
    request = signed("zendesk", b"k", b"{}")
    headers = {**request.headers, "x-zendesk-webhook-signature-timestamp": "yesterday"}
    with pytest.raises(SignatureRejected) as info:
        verify(ADAPTERS["zendesk"].scheme, SignedRequest("POST", request.url, headers, {}, b"{}"), b"k",
               replay_window_s=300, now=NOW)
    assert info.value.reason == "bad_timestamp"
