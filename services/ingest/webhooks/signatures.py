"""One signature verifier for every provider, parameterised by a ``SignatureScheme``.

A scheme says where the signature is (header or query parameter), how it is made (HMAC with a digest,
or a plain shared token), how it is encoded (base64 or hex, with an optional prefix such as ``sha256=``),
what bytes were signed (the body; timestamp + body; method + URL + body + timestamp ...), and whether a
signed timestamp must be recent (replay window). Comparisons are constant-time; secrets are never logged.
"""

from __future__ import annotations

import base64
import hmac
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import unquote


@dataclass(frozen=True)
class SignedRequest:
    """The parts of an HTTP request a signature can cover. Header names are lower-case."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


class SignatureRejected(Exception):
    """The request is not proven to come from the provider; ``reason`` is a machine-readable code."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


MessageBuilder = Callable[[SignedRequest, str], bytes]
"""Builds the signed bytes from the request and the timestamp (empty when the scheme has none)."""


def body_only(request: SignedRequest, _timestamp: str) -> bytes:
    """The raw body (Typeform, SurveyMonkey)."""
    return request.body


def timestamp_then_body(request: SignedRequest, timestamp: str) -> bytes:
    """Timestamp immediately followed by the body (Zendesk)."""
    return timestamp.encode("utf-8") + request.body


def timestamp_dot_body(request: SignedRequest, timestamp: str) -> bytes:
    """``timestamp.body`` (the signed relay used for Salesforce change events)."""
    return timestamp.encode("utf-8") + b"." + request.body


def method_url_body_timestamp(request: SignedRequest, timestamp: str) -> bytes:
    """Method + URL (percent-decoded) + body + timestamp (HubSpot v3)."""
    return request.method.upper().encode() + unquote(request.url).encode("utf-8") + request.body + timestamp.encode()


@dataclass(frozen=True)
class SignatureScheme:
    """How one provider proves a request is theirs."""

    name: str
    location: str
    """Header name (lower-case) or query parameter that carries the signature."""
    kind: Literal["hmac", "token"] = "hmac"
    in_query: bool = False
    digest: str = "sha256"
    encoding: Literal["base64", "hex"] = "base64"
    prefix: str = ""
    message: MessageBuilder = body_only
    timestamp_header: str | None = None
    timestamp_format: Literal["unix_s", "unix_ms", "iso8601"] = "unix_s"

    def sign(self, key: bytes, request: SignedRequest, timestamp: str = "") -> str:
        """The signature value this scheme expects for ``request`` (what the provider would send)."""
        if self.kind == "token":
            return key.decode("utf-8")
        mac = hmac.new(key, self.message(request, timestamp), self.digest).digest()
        encoded = base64.b64encode(mac).decode("ascii") if self.encoding == "base64" else mac.hex()
        return self.prefix + encoded


def verify(
    scheme: SignatureScheme,
    request: SignedRequest,
    key: bytes | None,
    *,
    replay_window_s: float,
    now: float | None = None,
) -> None:
    """Return when ``request`` carries a valid, recent signature for ``key``; raise ``SignatureRejected`` otherwise."""
    if not key:
        raise SignatureRejected("not_configured", f"no secret is configured for {scheme.name} webhooks")
    presented = (request.query if scheme.in_query else request.headers).get(scheme.location)
    if not presented:
        where = "parameter" if scheme.in_query else "header"
        raise SignatureRejected("missing_signature", f"the {scheme.location} {where} is missing")
    timestamp = ""
    if scheme.timestamp_header:
        timestamp = request.headers.get(scheme.timestamp_header, "")
        if not timestamp:
            raise SignatureRejected("missing_timestamp", f"the {scheme.timestamp_header} header is missing")
        signed_at = _parse_timestamp(timestamp, scheme.timestamp_format)
        age = (time.time() if now is None else now) - signed_at
        if abs(age) > replay_window_s:
            raise SignatureRejected(
                "stale_timestamp", f"the signed timestamp is {age:.0f}s away from now (window {replay_window_s:.0f}s)"
            )
    expected = scheme.sign(key, request, timestamp)
    if not hmac.compare_digest(presented.strip().encode("utf-8"), expected.encode("utf-8")):
        raise SignatureRejected("bad_signature", "the signature does not match the request")


def _parse_timestamp(value: str, fmt: str) -> float:
    try:
        if fmt == "unix_ms":
            seconds = int(value) / 1000.0
        elif fmt == "unix_s":
            seconds = float(value)
        else:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            seconds = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError) as exc:
        raise SignatureRejected("bad_timestamp", f"the signed timestamp {value[:40]!r} cannot be read") from exc
    if not math.isfinite(seconds):  # "nan" would pass any window comparison
        raise SignatureRejected("bad_timestamp", f"the signed timestamp {value[:40]!r} is not a finite number")
    return seconds
