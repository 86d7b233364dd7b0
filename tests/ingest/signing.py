"""Signing test requests the way each provider documents it, independently of the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import UTC, datetime


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


def typeform(secret: str, body: bytes) -> dict[str, str]:
    """``Typeform-Signature: sha256=<base64 HMAC-SHA256(body)>``."""
    return {"Typeform-Signature": "sha256=" + _b64(hmac.new(secret.encode(), body, hashlib.sha256).digest())}


def surveymonkey(api_key: str, api_secret: str, body: bytes) -> dict[str, str]:
    """``Sm-Signature: <base64 HMAC-SHA1(body)>`` keyed ``api_key&api_secret``, plus ``Sm-Apikey``."""
    key = f"{api_key}&{api_secret}".encode()
    return {"Sm-Signature": _b64(hmac.new(key, body, hashlib.sha1).digest()), "Sm-Apikey": api_key,
            "Content-Type": "application/vnd.surveymonkey.response.v1+json"}


def zendesk(secret: str, body: bytes, *, at: datetime | None = None) -> dict[str, str]:
    """``X-Zendesk-Webhook-Signature: base64(HMAC-SHA256(timestamp + body))`` and its timestamp header."""
    timestamp = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    mac = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return {"X-Zendesk-Webhook-Signature": _b64(mac), "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            "Content-Type": "application/json"}


def hubspot(secret: str, method: str, uri: str, body: bytes, *, at_ms: int | None = None) -> dict[str, str]:
    """``X-HubSpot-Signature-v3: base64(HMAC-SHA256(method + uri + body + timestamp))``, timestamp in ms."""
    timestamp = str(at_ms if at_ms is not None else int(time.time() * 1000))
    message = method.encode() + uri.encode() + body + timestamp.encode()
    return {"X-HubSpot-Signature-v3": _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest()),
            "X-HubSpot-Request-Timestamp": timestamp, "Content-Type": "application/json"}


def relay(secret: str, body: bytes, *, at: int | None = None) -> dict[str, str]:
    """The signed relay for Salesforce: ``X-LP-Signature: sha256=<hex HMAC-SHA256("ts.body")>``."""
    timestamp = str(at if at is not None else int(time.time()))
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"X-LP-Signature": f"sha256={mac}", "X-LP-Timestamp": timestamp, "Content-Type": "application/json"}
