"""Credentials of the review APIs that want a signed token instead of a static key, minted and cached here.

* **App Store Connect** (https://developer.apple.com/documentation/appstoreconnectapi/generating-tokens-for-api-requests):
  every request carries ``Authorization: Bearer <JWT>``; the JWT is signed ES256 with the team's ``.p8`` private
  key, header ``kid`` = key id, claims ``iss`` = issuer id, ``iat``, ``exp`` (at most 20 minutes later),
  ``aud`` = ``appstoreconnect-v1``. Minted locally, reused until a minute before it expires.
* **Google Play Developer API** (OAuth 2.0 for service accounts,
  https://developers.google.com/identity/protocols/oauth2/service-account#httprest): a JWT signed RS256 with the
  service account's private key (header ``kid`` = ``private_key_id``; claims ``iss`` = ``client_email``,
  ``scope`` = ``https://www.googleapis.com/auth/androidpublisher``, ``aud`` = ``token_uri``, ``iat``, ``exp``
  at most an hour later) is exchanged at ``token_uri`` (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``)
  for an access token, used as ``Bearer`` until a minute before its ``expires_in``.

Keys are read from a file (``*_file``) or an environment variable holding the content (``*_env``), named in the
pollers file; they are never logged. Tokens are cached per process, keyed by the source and its credentials.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from services.ingest.provider_api import ProviderApiError

APPSTORE_AUDIENCE = "appstoreconnect-v1"
APPSTORE_MAX_LIFETIME_S = 1200
GOOGLE_PLAY_SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GOOGLE_JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
GOOGLE_MAX_ASSERTION_S = 3600
REFRESH_MARGIN_S = 60.0


class CredentialsError(ProviderApiError):
    """Credentials that cannot be used (missing, unreadable, refused): retrying without a fix cannot help."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message, status=status, permanent=True)


def read_secret(*, file: str | None, env: str | None, what: str) -> str:
    """A credential's content from a file or an environment variable."""
    if file:
        try:
            return Path(file).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(f"cannot read the {what} file {file}: {exc.strerror}") from None
    if env:
        value = os.environ.get(env)
        if value:
            return value
        raise CredentialsError(f"the {what} variable {env} is not set")
    raise CredentialsError(f"no {what} configured")


@dataclass
class _Cached:
    token: str = ""
    expires_at: float = 0.0


@dataclass
class AppStoreConnectToken:
    """Mints the ES256 JWT App Store Connect wants, and reuses it while it is valid."""

    key_id: str
    issuer_id: str
    private_key: str
    lifetime_s: int = APPSTORE_MAX_LIFETIME_S
    clock: Callable[[], float] = time.time
    _cached: _Cached = field(default_factory=_Cached)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.lifetime_s = max(60, min(self.lifetime_s, APPSTORE_MAX_LIFETIME_S))

    def token(self) -> str:
        """A JWT valid for at least another minute."""
        with self._lock:
            now = self.clock()
            if self._cached.token and now < self._cached.expires_at - REFRESH_MARGIN_S:
                return self._cached.token
            issued = int(now)
            claims = {"iss": self.issuer_id, "iat": issued, "exp": issued + self.lifetime_s,
                      "aud": APPSTORE_AUDIENCE}
            try:
                token = jwt.encode(claims, self.private_key, algorithm="ES256",
                                   headers={"kid": self.key_id, "typ": "JWT"})
            except (ValueError, TypeError, jwt.PyJWTError) as exc:
                raise CredentialsError(f"the App Store Connect private key cannot sign: {type(exc).__name__}") from None
            self._cached = _Cached(token, issued + self.lifetime_s)
            return token


@dataclass
class GoogleServiceAccountToken:
    """Exchanges a service-account JWT for an OAuth 2.0 access token, and reuses it while it is valid."""

    service_account: dict[str, Any]
    scope: str = GOOGLE_PLAY_SCOPE
    clock: Callable[[], float] = time.time
    transport: httpx.BaseTransport | None = None
    timeout_s: float = 20.0
    _cached: _Cached = field(default_factory=_Cached)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_json(cls, text: str, **kwargs: Any) -> GoogleServiceAccountToken:
        """From the service account's JSON key file content."""
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            raise CredentialsError("the Google service account key is not JSON") from None
        if not isinstance(doc, dict):
            raise CredentialsError("the Google service account key is not a JSON object")
        missing = [k for k in ("client_email", "private_key", "token_uri") if not doc.get(k)]
        if missing:
            raise CredentialsError(f"the Google service account key lacks {', '.join(missing)}")
        return cls(doc, **kwargs)

    def assertion(self, now: float) -> str:
        """The signed JWT the token endpoint exchanges."""
        account = self.service_account
        issued = int(now)
        claims = {"iss": account["client_email"], "scope": self.scope, "aud": account["token_uri"], "iat": issued,
                  "exp": issued + GOOGLE_MAX_ASSERTION_S}
        headers = {"kid": account["private_key_id"]} if account.get("private_key_id") else None
        try:
            return jwt.encode(claims, account["private_key"], algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise CredentialsError(f"the Google service account key cannot sign: {type(exc).__name__}") from None

    def token(self) -> str:
        """An access token valid for at least another minute (fetched from ``token_uri`` when needed)."""
        with self._lock:
            now = self.clock()
            if self._cached.token and now < self._cached.expires_at - REFRESH_MARGIN_S:
                return self._cached.token
            data = {"grant_type": GOOGLE_JWT_BEARER, "assertion": self.assertion(now)}
            try:
                with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
                    response = client.post(self.service_account["token_uri"], data=data)
            except httpx.HTTPError as exc:
                raise ProviderApiError(f"google token endpoint: {type(exc).__name__}") from None
            if response.status_code >= 500 or response.status_code == 429:
                raise ProviderApiError(f"google token endpoint: HTTP {response.status_code}",
                                       status=response.status_code)
            try:
                body = response.json()
            except ValueError:
                body = {}
            if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
                error = body.get("error") if isinstance(body, dict) else None
                raise CredentialsError(f"google token endpoint refused the service account: HTTP "
                                       f"{response.status_code} {error or ''}".strip(), status=response.status_code)
            expires_in = float(body.get("expires_in") or 3600)
            self._cached = _Cached(str(body["access_token"]), now + expires_in)
            return self._cached.token


TokenSource = AppStoreConnectToken | GoogleServiceAccountToken
_TOKENS: dict[tuple[str, ...], TokenSource] = {}
_TOKENS_LOCK = threading.Lock()


def cached_token_source(key: tuple[str, ...], make: Callable[[], TokenSource]) -> TokenSource:
    """One token source per source and credentials in this process, so tokens outlive one poll run."""
    with _TOKENS_LOCK:
        found = _TOKENS.get(key)
        if found is None:
            found = _TOKENS[key] = make()
        return found
