"""App Store Connect and Google Play credentials: tokens minted from the real key formats, verified by local
replay servers with the matching public key, cached, refreshed, and refused keys reported."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.pollers.auth import (
    APPSTORE_AUDIENCE,
    GOOGLE_JWT_BEARER,
    GOOGLE_PLAY_SCOPE,
    AppStoreConnectToken,
    GoogleServiceAccountToken,
)
from services.ingest.pollers.config import SourceConfig
from services.ingest.pollers.service import poll_once
from services.ingest.provider_api import ProviderApi, RetryPolicy
from tests.ingest.provider_server import ProviderServer, Reply, Seen, fixture

APP_REVIEWS = "/v1/apps/682658836/customerReviews"
PLAY_REVIEWS = "/androidpublisher/v3/applications/com.northwind.app/reviews"
KEY_ID, ISSUER_ID = "2X9R4HXF34", "57246542-96fe-1a63-e053-0824d011072a"




def api(config: SourceConfig) -> ProviderApi:
    return ProviderApi(name=config.name, timeout_s=5.0, sleep=lambda _s: None,
                       policy=RetryPolicy(attempts=1, base_delay_s=0.0, max_delay_s=0.0))


def pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> str:
    """A private key as the providers hand it out: PKCS#8 PEM (Apple's .p8, Google's private_key)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def bearer(seen: Seen) -> str:
    return seen.headers.get("authorization", "").removeprefix("Bearer ")


class AppStoreConnect:
    """The API side: accepts only an ES256 JWT from the registered key, as App Store Connect documents it."""

    def __init__(self, public_key: ec.EllipticCurvePublicKey) -> None:
        self.public_key = public_key
        self.claims: list[dict[str, object]] = []

    def __call__(self, seen: Seen) -> Reply:
        token = bearer(seen)
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(token, self.public_key, algorithms=["ES256"], audience=APPSTORE_AUDIENCE,
                                issuer=ISSUER_ID, options={"require": ["exp", "iat", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            return Reply(401, {"errors": [{"status": "401", "code": "NOT_AUTHORIZED", "detail": str(exc)}]})
        if header.get("kid") != KEY_ID or int(claims["exp"]) - int(claims["iat"]) > 1200:
            return Reply(401, {"errors": [{"status": "401", "code": "NOT_AUTHORIZED"}]})
        self.claims.append(claims)
        return Reply(200, fixture("appstore_customer_reviews.json"))


def test_app_store_connect_gets_a_signed_es256_token(
    sessions: sessionmaker[Session], provider_server: ProviderServer, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    p8 = tmp_path / f"AuthKey_{KEY_ID}.p8"
    p8.write_text(pem(key))
    apple = AppStoreConnect(key.public_key())
    provider_server.handle(APP_REVIEWS, apple)
    config = SourceConfig(name="ios-signed", kind="appstore", app_id="682658836", base_url=provider_server.url,
                          key_id=KEY_ID, issuer_id=ISSUER_ID, private_key_file=str(p8))

    first = poll_once(config, sessions=sessions, api_factory=api)
    assert (first.error, first.accepted) == (None, 2)
    again = poll_once(config, sessions=sessions, api_factory=api)
    assert again.error is None
    tokens = {bearer(s) for s in provider_server.hits(APP_REVIEWS)}
    assert len(tokens) == 1  # minted once, reused while valid
    assert apple.claims[0]["aud"] == "appstoreconnect-v1"


def test_a_foreign_key_is_refused_and_reported(
    sessions: sessionmaker[Session], provider_server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider_server.handle(APP_REVIEWS, AppStoreConnect(ec.generate_private_key(ec.SECP256R1()).public_key()))
    monkeypatch.setenv("LP_TEST_ASC_P8", pem(ec.generate_private_key(ec.SECP256R1())))  # not the registered key
    config = SourceConfig(name="ios-foreign", kind="appstore", app_id="682658836", base_url=provider_server.url,
                          key_id=KEY_ID, issuer_id=ISSUER_ID, private_key_env="LP_TEST_ASC_P8")
    summary = poll_once(config, sessions=sessions, api_factory=api)
    assert summary.error is not None
    assert "HTTP 401" in summary.error
    assert summary.accepted == 0


def test_a_missing_key_is_the_runs_error(sessions: sessionmaker[Session], provider_server: ProviderServer) -> None:
    config = SourceConfig(name="ios-missing", kind="appstore", app_id="682658836", base_url=provider_server.url,
                          key_id=KEY_ID, issuer_id=ISSUER_ID, private_key_env="LP_TEST_UNSET_P8")
    summary = poll_once(config, sessions=sessions, api_factory=api)
    assert summary.error == "the App Store Connect key variable LP_TEST_UNSET_P8 is not set"
    assert provider_server.hits(APP_REVIEWS) == []


def test_app_store_tokens_are_renewed_before_they_expire() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = [time.time()]
    source = AppStoreConnectToken(KEY_ID, ISSUER_ID, pem(key), lifetime_s=3600, clock=lambda: now[0])
    token = source.token()
    claims = jwt.decode(token, key.public_key(), algorithms=["ES256"], audience=APPSTORE_AUDIENCE)
    assert claims["exp"] - claims["iat"] == 1200  # capped at Apple's 20 minutes
    now[0] += 1100
    assert source.token() == token
    now[0] += 50  # within a minute of expiry: a new one
    assert source.token() != token


class GoogleOAuth:
    """Google's token endpoint: verifies the service-account assertion (RS256) and hands out access tokens."""

    def __init__(self, public_key: rsa.RSAPublicKey, token_uri: str, leeway_s: float = 0) -> None:
        self.public_key = public_key
        self.token_uri = token_uri
        self.leeway_s = leeway_s
        self.issued: list[str] = []

    def token(self, seen: Seen) -> Reply:
        form = {k: v[0] for k, v in parse_qs(seen.body.decode()).items()}
        if form.get("grant_type") != GOOGLE_JWT_BEARER:
            return Reply(400, {"error": "unsupported_grant_type"})
        try:
            header = jwt.get_unverified_header(form.get("assertion", ""))
            claims = jwt.decode(form["assertion"], self.public_key, algorithms=["RS256"], audience=self.token_uri,
                                leeway=self.leeway_s, options={"require": ["exp", "iat", "iss", "aud"]})
        except (jwt.PyJWTError, KeyError) as exc:
            return Reply(400, {"error": "invalid_grant", "error_description": str(exc)})
        if (claims["iss"] != "reviews-reader@northwind-play.iam.gserviceaccount.com"
                or claims.get("scope") != GOOGLE_PLAY_SCOPE or header.get("kid") != "4f1c9a0e7b"
                or int(claims["exp"]) - int(claims["iat"]) > 3600):
            return Reply(400, {"error": "invalid_grant"})
        access = f"ya29.test-{len(self.issued)}"
        self.issued.append(access)
        return Reply(200, {"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    def reviews(self, seen: Seen) -> Reply:
        if bearer(seen) not in self.issued:
            return Reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        return Reply(200, fixture("googleplay_reviews_page2.json"))


def service_account(key: rsa.RSAPrivateKey, token_uri: str) -> str:
    """A service account JSON key file, shaped as Google issues it."""
    return json.dumps({
        "type": "service_account", "project_id": "northwind-play", "private_key_id": "4f1c9a0e7b",
        "private_key": pem(key), "client_email": "reviews-reader@northwind-play.iam.gserviceaccount.com",
        "client_id": "109876543210987654321", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    })


def test_google_play_exchanges_a_service_account_jwt_for_an_access_token(
    sessions: sessionmaker[Session], provider_server: ProviderServer, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_uri = f"{provider_server.url}/token"
    google = GoogleOAuth(key.public_key(), token_uri)
    provider_server.handle("/token", google.token)
    provider_server.handle(PLAY_REVIEWS, google.reviews)
    key_file = tmp_path / "northwind-play.json"
    key_file.write_text(service_account(key, token_uri))
    config = SourceConfig(name="android-signed", kind="googleplay", package_name="com.northwind.app",
                          base_url=provider_server.url, service_account_file=str(key_file))

    first = poll_once(config, sessions=sessions, api_factory=api)
    assert (first.error, first.accepted) == (None, 1)
    assert poll_once(config, sessions=sessions, api_factory=api).error is None
    assert google.issued == ["ya29.test-0"]  # one exchange, the access token reused
    assert len(provider_server.hits("/token")) == 1


def test_a_refused_service_account_is_the_runs_error(
    sessions: sessionmaker[Session], provider_server: ProviderServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_uri = f"{provider_server.url}/token"
    registered = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    google = GoogleOAuth(registered.public_key(), token_uri)
    provider_server.handle("/token", google.token)
    provider_server.handle(PLAY_REVIEWS, google.reviews)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    monkeypatch.setenv("LP_TEST_PLAY_SA", service_account(other, token_uri))
    config = SourceConfig(name="android-refused", kind="googleplay", package_name="com.northwind.app",
                          base_url=provider_server.url, service_account_env="LP_TEST_PLAY_SA")
    summary = poll_once(config, sessions=sessions, api_factory=api)
    assert summary.error is not None
    assert "refused the service account: HTTP 400 invalid_grant" in summary.error
    assert provider_server.hits(PLAY_REVIEWS) == []


def test_google_access_tokens_are_renewed_before_they_expire(provider_server: ProviderServer) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token_uri = f"{provider_server.url}/token"
    google = GoogleOAuth(key.public_key(), token_uri, leeway_s=7200)  # the test's clock runs ahead of the server's
    provider_server.handle("/token", google.token)
    now = [time.time()]
    source = GoogleServiceAccountToken.from_json(service_account(key, token_uri), clock=lambda: now[0])
    assert source.token() == "ya29.test-0"
    now[0] += 3500
    assert source.token() == "ya29.test-0"
    now[0] += 60
    assert source.token() == "ya29.test-1"
