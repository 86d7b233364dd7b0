"""JSON log lines with the trace id: the formatter, and one trace id followed through the running pipeline."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from services.cli.stack import Stack
from shared.bus import EmbeddedBroker, free_port
from shared.observability.logs import JsonFormatter, trace_context, trace_id_var
from shared.observability.tracing import child_traceparent, parse_trace_id
from shared.process import stop_process
from tests.ops.conftest import SECRETS, typeform_webhook
from tests.polling import wait_for

PIPELINE = ("ingest", "nlp", "journey")


def formatted(message: str, **extra: Any) -> dict[str, Any]:
    record = logging.LogRecord("lp.test", logging.WARNING, __file__, 1, message, None, None)
    for key, value in extra.items():
        setattr(record, key, value)
    doc: dict[str, Any] = json.loads(JsonFormatter("ingest").format(record))
    return doc


def test_a_line_is_one_json_object_with_the_standard_fields() -> None:
    doc = formatted("hello", items=3)
    assert list(doc)[:5] == ["timestamp", "level", "logger", "message", "service"]
    assert (doc["level"], doc["logger"], doc["message"], doc["service"], doc["items"]) == (
        "warning", "lp.test", "hello", "ingest", 3)
    assert doc["timestamp"].endswith("+00:00")
    assert "trace_id" not in doc


def test_fields_that_hold_secrets_are_redacted() -> None:
    doc = formatted("x", api_key="k-123", typeform_secret="s-1", authorization="Bearer t", token=SecretStr("z"),
                    provider="typeform")
    assert doc["api_key"] == doc["typeform_secret"] == doc["authorization"] == doc["token"] == "[redacted]"
    assert doc["provider"] == "typeform"
    assert "k-123" not in json.dumps(doc)


def test_the_bound_trace_is_on_every_line() -> None:
    with trace_context(["4bf92f3577b34da6a3ce929d0e0e4736"]):
        assert formatted("one")["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    with trace_context(["a" * 32, None, "b" * 32, "a" * 32]):
        doc = formatted("batch")
        assert doc["trace_ids"] == ["a" * 32, "b" * 32]
        assert "trace_id" not in doc
    assert "trace_id" not in formatted("after")
    assert "trace_ids" not in formatted("after")


def test_a_new_span_keeps_the_callers_trace_else_the_bound_one_else_a_new_one() -> None:
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    assert parse_trace_id(child_traceparent(caller)) == "4bf92f3577b34da6a3ce929d0e0e4736"
    token = trace_id_var.set("c" * 32)
    try:
        assert parse_trace_id(child_traceparent(None)) == "c" * 32
        assert parse_trace_id(child_traceparent("garbage")) == "c" * 32
    finally:
        trace_id_var.reset(token)
    minted = parse_trace_id(child_traceparent(None))
    assert minted is not None
    assert minted != "c" * 32


# -- on the running services -------------------------------------------------------------------------------------


def log_lines(stack: Stack, service: str) -> list[dict[str, Any]]:
    """Every line of a service's log, parsed; a line that is not one JSON object fails the test."""
    lines = []
    for raw in stack[service].log_file.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError:
            pytest.fail(f"{service} wrote a line that is not JSON: {raw[:300]}")
        assert isinstance(doc, dict), raw
        assert {"timestamp", "level", "logger", "message", "service"} <= doc.keys(), raw
        lines.append(doc)
    return lines


def lines_of_trace(stack: Stack, service: str, trace_id: str) -> list[dict[str, Any]]:
    return [d for d in log_lines(stack, service) if d.get("trace_id") == trace_id or trace_id in d.get("trace_ids", ())]


def follow(stack: Stack, trace_id: str) -> dict[str, list[dict[str, Any]]]:
    """Wait until each pipeline service has logged the trace; its lines by service."""
    def found() -> dict[str, list[dict[str, Any]]] | None:
        lines = {s: lines_of_trace(stack, s, trace_id) for s in PIPELINE}
        return lines if all(lines.values()) else None

    return wait_for(found, timeout_s=120, what=f"trace {trace_id} in the logs of {', '.join(PIPELINE)}")


@pytest.mark.integration
def test_the_callers_trace_id_follows_a_webhook_through_ingest_nlp_and_journey(ops_stack: Stack) -> None:
    trace_id = uuid.uuid4().hex
    response = typeform_webhook(ops_stack, customer=f"C-{uuid.uuid4().hex[:8]}",
                                traceparent=f"00-{trace_id}-00f067aa0ba902b7-01")
    assert response.status_code == 202, response.text
    assert parse_trace_id(response.headers["traceparent"]) == trace_id
    found = follow(ops_stack, trace_id)
    [request] = [d for d in found["ingest"] if d["message"] == "request"]
    assert (request["route"], request["status"]) == ("/v1/webhooks/{provider}", 202)
    assert any(d["message"] == "batch processed" and d["group"] == "lp-nlp" for d in found["nlp"])
    assert any(d["message"] == "batch processed" and d["group"] == "lp-journey" for d in found["journey"])


@pytest.mark.integration
def test_ingest_mints_a_trace_id_when_the_caller_sends_none(ops_stack: Stack) -> None:
    response = typeform_webhook(ops_stack, customer=f"C-{uuid.uuid4().hex[:8]}")
    assert response.status_code == 202, response.text
    trace_id = parse_trace_id(response.headers["traceparent"])
    assert trace_id is not None
    follow(ops_stack, trace_id)


@pytest.mark.integration
def test_no_secret_reaches_any_log(ops_stack: Stack) -> None:
    wrong_key = f"wrong-key-{uuid.uuid4().hex}"
    refused = httpx.get(f"{ops_stack['reporting'].url}/v1/stages", headers={"X-API-Key": wrong_key}, timeout=10)
    assert refused.status_code == 401
    trace_id = parse_trace_id(typeform_webhook(ops_stack, customer="C-secrets").headers["traceparent"])
    assert trace_id is not None
    follow(ops_stack, trace_id)
    for service in ops_stack.processes:
        text = ops_stack[service].log_file.read_text(encoding="utf-8")
        for secret in (*SECRETS, wrong_key):
            assert secret not in text, f"{service} logged a secret"


def test_the_worker_processes_of_serve_log_json_lines_too(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """``serve ingest`` with two workers: uvicorn starts each worker as a fresh interpreter, which configures its
    logging from LP_LOG_* as ``serve`` did (before, the leader's records went to Python's last-resort handler:
    warnings only, the bare message)."""
    port = free_port()
    env = {**os.environ, "LP_DATA_DIR": str(tmp_path), "LP_KAFKA_BOOTSTRAP": broker.bootstrap, "LP_PORT": str(port),
           "LP_API_KEY": "test-key", "LP_INGEST_WORKERS": "2", "LP_LOG_LEVEL": "INFO"}
    env.pop("DATABASE_URL", None)
    stderr = tmp_path / "ingest.log"
    with open(stderr, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "services.cli.main", "serve", "ingest"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: b"this process leads" in stderr.read_bytes(), timeout_s=60, what="a worker to lead")
        finally:
            stop_process(proc, timeout_s=20)
    lines = [line for line in stderr.read_text().splitlines() if "this process leads" in line]
    assert len(lines) == 1
    doc = json.loads(lines[0])
    assert (doc["level"], doc["service"], doc["logger"]) == ("info", "ingest", "services.ingest.leader")
