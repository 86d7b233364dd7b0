"""Schemathesis against each service's own OpenAPI document, in process, with valid keys.

Every generated request, valid (positive) and invalid (negative), must get an answer the schema documents:
no 5xx, a documented status code, a body matching the documented schema, the documented content type and
headers. Each operation gets a bounded number of examples; every failing operation is reported, not just
the first.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python.asgi import get_client, shutdown_lifespans
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.hostile.conftest import AUTH
from tests.polling import wait_for

# schemathesis' own string-format strategies (e.g. "email") draw from `random`; hypothesis warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:Do not use the `random` module inside strategies")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)


def _schema(app: FastAPI) -> Iterator[BaseSchema]:
    """The app's schema, once the app is ready; schemathesis starts its lifespan once, stopped after the module.

    Fuzzing starts when ``/readyz`` answers 200, as an orchestrator sends traffic only then: a consumer still
    joining its group answers 503 (documented, and true), which the no-5xx check would otherwise count.
    """
    try:
        with get_client(app) as client:  # starts the lifespan, which stays up until shutdown_lifespans()
            wait_for(lambda: client.get("/readyz").status_code == 200, timeout_s=60, interval_s=0.2,
                     what="the app to be ready")
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        # Text holding U+0000 is refused by the body guard (400 invalid_text: PostgreSQL cannot store it, see
        # test_bodies.py); without this, most "valid" bodies would carry one and none would reach the endpoints.
        schema.config.generation.update(allow_x00=False)
        yield schema
    finally:
        shutdown_lifespans()


def conformance_failures(schema: BaseSchema, *, examples: int,
                         seen: dict[str, set[int]] | None = None) -> list[str]:
    """Run every operation of ``schema`` in both generation modes; one line per operation and mode that failed.

    ``seen`` collects the status codes each operation answered (``"POST /v1/feedback [negative]"`` -> codes).
    """
    failures: list[str] = []
    seen = {} if seen is None else seen
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            label = f"{operation.label} [{mode.value}]"

            @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def run(case: schemathesis.Case) -> None:
                response = case.call_and_validate(headers=AUTH, checks=CHECKS)
                seen.setdefault(label, set()).add(response.status_code)  # noqa: B023 - run() is called in this loop

            try:
                run()
            except Unsatisfiable:
                # Nothing can be invalid about it (no parameters, or any body is taken): the positive run covers it.
                assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no valid request can be generated"
            except Exception as exc:  # every failing operation is reported together
                causes = "\n".join(f"  - {type(e).__name__}: {e}" for e in getattr(exc, "exceptions", ()))
                failures.append(f"{label}: {exc}\n{causes}"[:4000])
    return failures


@pytest.fixture(scope="module")
def ingest_schema(ingest_app: FastAPI) -> Iterator[BaseSchema]:
    yield from _schema(ingest_app)


@pytest.fixture(scope="module")
def nlp_schema(nlp_app: FastAPI) -> Iterator[BaseSchema]:
    yield from _schema(nlp_app)


@pytest.fixture(scope="module")
def reporting_schema(reporting_app: FastAPI) -> Iterator[BaseSchema]:
    yield from _schema(reporting_app)


def test_ingest_api_conforms(ingest_schema: BaseSchema) -> None:
    seen: dict[str, set[int]] = {}
    failures = conformance_failures(ingest_schema, examples=25, seen=seen)
    assert not failures, "\n\n".join(failures)
    # Both kinds of request reached the endpoints: stored items, and refusals of invalid ones.
    assert 202 in seen["POST /v1/feedback [positive]"], seen
    assert seen["POST /v1/feedback [negative]"] & {400, 413, 415, 422}, seen
    assert 401 in seen["POST /v1/webhooks/{provider} [positive]"], seen


def test_nlp_api_conforms(nlp_schema: BaseSchema) -> None:
    seen: dict[str, set[int]] = {}
    failures = conformance_failures(nlp_schema, examples=8, seen=seen)
    assert not failures, "\n\n".join(failures)
    assert 200 in seen["POST /v1/analyze [positive]"], seen
    assert seen["POST /v1/analyze [negative]"] & {400, 413, 415, 422}, seen


def test_reporting_api_conforms(reporting_schema: BaseSchema) -> None:
    seen: dict[str, set[int]] = {}
    failures = conformance_failures(reporting_schema, examples=20, seen=seen)
    assert not failures, "\n\n".join(failures)
    assert 200 in seen["GET /v1/feedback [positive]"], seen
    assert seen["GET /v1/feedback [negative]"] & {400, 422}, seen
