"""The security controls SECURITY.md claims, each checked against the running apps or the source.

* every route of every service needs a key or a provider signature, except the documented public ones;
* CORS is off: no ``Access-Control-Allow-*`` header, whatever the Origin;
* keys, provider secrets, signatures and tokens never reach the logs, not even when they are wrong;
* secrets are compared in constant time (no ``==`` on anything named like a secret in the source);
* production refuses missing and well-known secrets; settings never print a secret;
* a key without the scope an endpoint needs gets 403.
"""

from __future__ import annotations

import ast
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import fastapi.routing
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import inspect
from starlette.routing import Mount, Route

from services.cli.migrate import upgrade_schemas
from services.ingest.settings import IngestSettings
from services.journey.alerts.service import AlertPolicy
from services.journey.identity.service import email_hash
from services.journey.settings import DEMO_JOURNEY_MAP, JourneySettings
from services.journey.story.service import StoryContext, apply_enriched
from services.reporting.access.guard import Forbidden, Guard, Principal
from shared.contracts import CustomerRef, JourneyMap
from shared.db import create_db_engine, make_session_factory, transaction
from shared.observability.logs import JsonFormatter
from shared.settings import ServiceSettings
from tests.conftest import Database
from tests.factories import enriched_event
from tests.hostile.conftest import ADMIN_KEY, AUTH, IDENTITY_KEY, KEY, SECRETS
from tests.ingest import signing
from tests.ingest.provider_server import fixture_bytes

ROOT = Path(__file__).resolve().parents[2]
PUBLIC = {
    ("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics"),
    ("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"),
    ("HEAD", "/openapi.json"), ("HEAD", "/docs"), ("HEAD", "/docs/oauth2-redirect"), ("HEAD", "/redoc"),
    ("HEAD", "/v1/webhooks/{provider}"),  # SurveyMonkey's reachability check: says only whether the provider exists
    ("GET", "/room/login"), ("POST", "/room/login"), ("POST", "/room/logout"),  # signing in to the customer room
}
SIGNED_IN_BY_REDIRECT = {("GET", "/room")}
"""Pages that send a visitor without a key to the sign-in page instead of answering 401."""
PATH_VALUES = {"provider": "typeform", "version": "1", "merge_id": "1", "customer_id": "C-1"}


SERVICES = ("ingest", "nlp", "journey", "reporting")


def started(request: pytest.FixtureRequest, *services: str) -> dict[str, TestClient]:
    """The named services' apps, started (module fixtures of conftest.py)."""
    return {name: request.getfixturevalue(f"{name}_client") for name in services}


def operations(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(METHOD, path template) of every route the app serves; mounts as (MOUNT, path)."""
    walk = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI >= 0.16x includes routers lazily
    routes = [context.route for context in walk(app.routes)] if walk else list(app.routes)
    for route in routes:
        if isinstance(route, APIRoute | Route):
            for method in sorted(route.methods or ()):
                yield method, route.path_format
        elif isinstance(route, Mount):
            yield "MOUNT", route.path


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)(:\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_needs_a_key_or_a_signature(request: pytest.FixtureRequest, service: str) -> None:
    client = started(request, service)[service]
    guarded = []
    for method, path in operations(client.app):  # type: ignore[arg-type]
        if (method, path) in PUBLIC or method == "MOUNT":
            continue
        url = concrete(path)
        for headers in ({}, {"X-API-Key": "not-the-key-0123456789abcdef"}, {"Authorization": "Bearer nope"}):
            response = client.request(method, url, headers=headers, json={} if method in {"POST", "PUT", "PATCH"}
                                      else None, follow_redirects=False)
            if (method, path) in SIGNED_IN_BY_REDIRECT:
                assert (response.status_code, response.headers["location"]) == (303, "/room/login"), path
                continue
            assert response.status_code in {401, 403}, (method, path, headers, response.status_code, response.text)
            assert response.json()["error"]["code"], (method, path)
        guarded.append((method, path))
    assert len(guarded) >= {"ingest": 2, "nlp": 1, "journey": 4, "reporting": 9}[service], guarded


def test_mounted_static_files_hold_no_data(request: pytest.FixtureRequest) -> None:
    clients = started(request, *SERVICES)
    mounts = [(s, p) for s, c in clients.items() for m, p in operations(c.app) if m == "MOUNT"]  # type: ignore[arg-type]
    assert mounts == [("reporting", "/room/static")]
    static = ROOT / "services" / "reporting" / "room" / "static"
    suffixes = {p.suffix for p in static.rglob("*") if p.is_file()}
    assert suffixes <= {".js", ".css", ".svg", ".png", ".ico", ".woff2", ".map", ".txt", ".md", ""}, suffixes


@pytest.mark.parametrize("service", SERVICES)
def test_cors_is_off_by_default(request: pytest.FixtureRequest, service: str) -> None:
    client = started(request, service)[service]
    origin = {"Origin": "https://evil.example"}
    preflight = client.options("/healthz", headers={**origin, "Access-Control-Request-Method": "GET",
                                                    "Access-Control-Request-Headers": "x-api-key"})
    answers = [preflight, client.get("/healthz", headers=origin), client.get("/openapi.json", headers=origin)]
    for response in answers:
        assert not [h for h in response.headers if h.lower().startswith("access-control-")], response.headers
    assert preflight.status_code in {404, 405}


def test_secrets_never_reach_the_logs(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> None:
    clients = started(request, *SERVICES)
    wrong_key = "wrong-key-SENTINEL-0123456789"
    body = fixture_bytes("zendesk_satisfaction_rating.json")
    signed = signing.zendesk(SECRETS["zendesk_webhook_secret"], body)
    forged = {**signed, "X-Zendesk-Webhook-Signature": "Zm9yZ2VkLXNpZ25hdHVyZS1TRU5USU5FTA=="}
    ingest, nlp, journey, reporting = (clients[s] for s in ("ingest", "nlp", "journey", "reporting"))
    with caplog.at_level(logging.DEBUG):
        ingest.post("/v1/feedback", json={"provider": "web", "text": "hello"}, headers=AUTH)
        ingest.post("/v1/feedback", json={"provider": "web", "text": "hello"}, headers={"X-API-Key": wrong_key})
        ingest.post("/v1/feedback", json={"provider": "BAD"}, headers={"Authorization": f"Bearer {KEY}"})
        ingest.post("/v1/webhooks/zendesk", content=body, headers=signed)
        ingest.post("/v1/webhooks/zendesk", content=body, headers=forged)
        for token in (SECRETS["qualtrics_webhook_token"], wrong_key):
            ingest.post("/v1/webhooks/qualtrics", params={"token": token},
                        content=fixture_bytes("qualtrics_completed_response.form"),
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        nlp.post("/v1/analyze", json={"items": [{"text": "call me at ana@example.com"}]}, headers=AUTH)
        nlp.post("/v1/analyze", json={"items": []}, headers={"X-API-Key": wrong_key})
        journey.get("/v1/journey-map", headers=AUTH)
        journey.post("/v1/journey-map", json={}, headers={"X-API-Key": ADMIN_KEY})
        journey.post("/v1/journey-map", json={}, headers={"X-API-Key": wrong_key})
        reporting.get("/v1/overview", headers=AUTH)
        reporting.get("/v1/overview", headers={"X-API-Key": wrong_key})
        reporting.post("/room/login", data={"key": wrong_key})
    formatter = JsonFormatter("test")
    # The test's own HTTP client logs each URL it calls (with Qualtrics' ?token=): the caller's log, not a service's.
    records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert len(records) >= 10, "the requests were logged at all"
    sentinels = {KEY, ADMIN_KEY, IDENTITY_KEY, wrong_key, signed["X-Zendesk-Webhook-Signature"],
                 forged["X-Zendesk-Webhook-Signature"], *(v for v in SECRETS.values() if len(v) >= 8)}
    leaked = sorted({f"{r.name}: {s}" for r in records for s in sentinels if s in formatter.format(r)})
    assert not leaked, f"secrets in the logs: {leaked}"


def test_settings_never_print_secrets() -> None:
    settings = IngestSettings(api_key=KEY, identity_key=IDENTITY_KEY, **SECRETS)
    shown = f"{settings!r} {settings} {settings.model_dump()} {settings.model_dump_json()}"
    for secret in (KEY, IDENTITY_KEY, *(v for k, v in SECRETS.items() if k != "surveymonkey_api_key")):
        assert secret not in shown, secret


PRODUCTION = {"LP_MODE": "production", "LP_KAFKA_BOOTSTRAP": "kafka:9092", "DATABASE_URL": "postgresql://h/db",
              "LP_API_KEY": "k" * 32, "LP_IDENTITY_KEY": "i" * 32, "LP_ADMIN_KEY": "a" * 32}


@pytest.mark.parametrize(("variable", "value"), [
    ("LP_API_KEY", "changeme"), ("LP_API_KEY", "short"), ("LP_IDENTITY_KEY", "listening-path-embedded-identity-key"),
    ("LP_TYPEFORM_SECRET", "secret"), ("LP_ZENDESK_WEBHOOK_SECRET", "Password"), ("LP_HUBSPOT_CLIENT_SECRET", "test"),
    ("LP_ADMIN_KEY", "admin"),
])
def test_production_refuses_default_secrets(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    for name in [n for n in os.environ if n.startswith("LP_") or n == "DATABASE_URL"]:
        monkeypatch.delenv(name)
    for name, good in PRODUCTION.items():
        monkeypatch.setenv(name, good)
    settings_class: type[ServiceSettings] = JourneySettings if variable == "LP_ADMIN_KEY" else IngestSettings
    assert settings_class().mode.value == "production"  # the baseline is accepted
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=variable):  # a SettingsError, inside pydantic's ValidationError
        settings_class()


def test_a_key_without_the_scope_gets_403() -> None:
    guard = Guard(bootstrap_key=None, lookup=lambda _k: Principal("k1", frozenset({"something:else"})),
                  rate_limit="100/minute")
    with pytest.raises(Forbidden) as refused:
        guard.check(guard.principal("lpk_whatever"), "reports:read")
    assert refused.value.status_code == 403
    guard.check(Principal("k2", frozenset({"admin"})), "reports:read")  # admin implies every scope


# -- constant-time comparisons ---------------------------------------------------------------------------------

SECRET_NAME = re.compile(r"secret|signature|api_?key|admin_?key|token|password|presented|expected_mac|digest",
                         re.IGNORECASE)
ALLOWED = {
    # Looking a key up by its SHA-256 in an indexed column: the database compares hashes, not the key, and a
    # timing difference on a hash prefix tells nothing about the key.
    ("services/reporting/access/keys.py", "ApiKey.key_hash == key_hash(presented)"),
}


def _names(node: ast.AST) -> list[str]:
    return [n.id if isinstance(n, ast.Name) else n.attr for n in ast.walk(node)
            if isinstance(n, ast.Name | ast.Attribute)]


def test_secrets_are_compared_in_constant_time() -> None:
    """No ``==``/``!=`` between two non-constant values when one is named like a secret (use hmac.compare_digest)."""
    suspicious = []
    for path in sorted([*ROOT.joinpath("services").rglob("*.py"), *ROOT.joinpath("shared").rglob("*.py")]):
        relative = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare) or not any(isinstance(o, ast.Eq | ast.NotEq) for o in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) for o in operands):
                continue  # comparing with a literal (None, "", a scheme name) reveals nothing
            if any(SECRET_NAME.search(name) for o in operands for name in _names(o)):
                source = ast.get_source_segment(path.read_text(encoding="utf-8"), node) or ""
                if (relative, source) not in ALLOWED:
                    suspicious.append(f"{relative}:{node.lineno}: {source}")
    assert not suspicious, "compare secrets with hmac.compare_digest:\n" + "\n".join(suspicious)
    checked = [p for p in ("shared/http/auth.py", "services/ingest/webhooks/signatures.py",
                           "services/reporting/access/guard.py")
               if "hmac.compare_digest" in ROOT.joinpath(p).read_text(encoding="utf-8")]
    assert len(checked) == 3, checked


def test_secret_settings_are_secret_strings() -> None:
    """Every setting named like a secret is a SecretStr, so it cannot be printed or logged by accident."""
    for settings_class in (IngestSettings, JourneySettings, ServiceSettings):
        for name, field in settings_class.model_fields.items():
            if re.search(r"secret|token|api_key|admin_key|identity_key", name) and name != "surveymonkey_api_key":
                assert field.annotation in (SecretStr, SecretStr | None), (settings_class.__name__, name)


# -- personal data -----------------------------------------------------------------------------------------------

PRIVATE_EMAIL = "priya.sharma+billing@example.com"


def test_the_story_store_keeps_emails_only_as_keyed_hashes(database: Database) -> None:
    settings = JourneySettings(data_dir=database.data_dir, database_url=database.url, identity_key=IDENTITY_KEY)
    upgrade_schemas(settings, ["journey"])
    engine = create_db_engine(settings.database_url_for("journey"))
    journey_map = JourneyMap.load(DEMO_JOURNEY_MAP)
    with transaction(make_session_factory(engine)) as session:
        ctx = StoryContext(journey_map=journey_map, email_key=IDENTITY_KEY.encode(), alerts=AlertPolicy())
        apply_enriched(session=session, events=[enriched_event(customer=CustomerRef(email=PRIVATE_EMAIL), nps=2)],
                       ctx=ctx)
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if not t.startswith("alembic")]
        dump = " ".join(str(row) for t in tables for row in conn.exec_driver_sql(f'SELECT * FROM "{t}"'))  # noqa: S608
    engine.dispose()
    assert email_hash(PRIVATE_EMAIL, IDENTITY_KEY.encode()) in dump, "the customer is known by the keyed hash"
    assert PRIVATE_EMAIL not in dump
    assert PRIVATE_EMAIL.split("@")[0] not in dump


def test_analyze_returns_only_redacted_text(request: pytest.FixtureRequest) -> None:
    nlp = started(request, "nlp")["nlp"]
    text = f"Write to {PRIVATE_EMAIL} or call +44 20 7946 0958, card 4111 1111 1111 1111. The invoice was wrong."
    response = nlp.post("/v1/analyze", json={"items": [{"id": "1", "text": text}]}, headers=AUTH)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    for private in (PRIVATE_EMAIL, "7946 0958", "4111 1111 1111 1111"):
        assert private not in response.text
    assert set(result["redactions"]) >= {"email", "phone", "card"}
    assert "invoice" in result["redacted_text"]
