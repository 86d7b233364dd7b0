"""API-key authentication: ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from pydantic import SecretStr

from shared.http.errors import Unauthorized


def presented_key(request: Request) -> str | None:
    """The key the caller sent, from either header."""
    key = request.headers.get("x-api-key")
    if key:
        return key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token:
        return token.strip()
    return None


def check_api_key(request: Request, expected: SecretStr | None) -> None:
    """Refuse the request unless it carries the configured key (compared in constant time)."""
    if expected is None or not expected.get_secret_value():
        raise Unauthorized("this service has no API key configured (set LP_API_KEY)", code="auth_not_configured")
    got = presented_key(request)
    if got is None:
        raise Unauthorized("an API key is required (X-API-Key header or Authorization: Bearer)",
                           headers={"WWW-Authenticate": "Bearer"})
    if not hmac.compare_digest(got.encode("utf-8"), expected.get_secret_value().encode("utf-8")):
        raise Unauthorized("the API key is not valid", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})


def _app_key_guard(request: Request) -> None:
    check_api_key(request, getattr(request.app.state, "api_key", None))


ApiKeyRequired = Depends(_app_key_guard)
"""Router dependency: the caller must present the key the app was built with (``create_service_app``)."""


def _app_admin_guard(request: Request) -> None:
    check_api_key(request, getattr(request.app.state, "admin_key", None))


AdminKeyRequired = Depends(_app_admin_guard)
"""Router or endpoint dependency: the caller must present the admin key the app was built with."""
