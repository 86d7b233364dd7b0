"""JSON logs: one object a line, with the service name and the trace id(s) of the work in hand.

Fields: ``timestamp``, ``level``, ``logger``, ``message``, ``service``, then ``trace_id`` (one trace: an HTTP
request, one message) or ``trace_ids`` (a consumer batch), then the record's ``extra=`` fields. ``grep`` for a
trace id over every service's log follows one request through the pipeline (docs/operations.md).

Secrets never reach the log: an ``extra`` field whose name says it holds one is written as ``[redacted]``,
and ``SecretStr`` values render masked.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("lp_trace_id", default=None)
"""The trace the current work belongs to (bound per HTTP request and per consumed message)."""

trace_ids_var: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("lp_trace_ids", default=())
"""The traces of a batch being processed together."""

_STANDARD = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime", "taskName", "color_message"}
SECRET_FIELD = re.compile(r"(secret|password|passwd|token|api_?key|authorization|signature|cookie|credential)",
                          re.IGNORECASE)
"""Names of ``extra`` fields whose values are never written."""
REDACTED = "[redacted]"


@contextmanager
def trace_context(trace_ids: Iterable[str | None]) -> Iterator[None]:
    """Bind the trace ids of the work in hand (one, or a batch's) to every log line written inside."""
    ids = tuple(dict.fromkeys(t for t in trace_ids if t))
    token = trace_id_var.set(ids[0] if len(ids) == 1 else None)
    batch_token = trace_ids_var.set(ids if len(ids) > 1 else ())
    try:
        yield
    finally:
        trace_ids_var.reset(batch_token)
        trace_id_var.reset(token)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object, with ``extra=`` fields as top-level keys (secrets redacted)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
        }
        trace_id = trace_id_var.get()
        if trace_id:
            doc["trace_id"] = trace_id
        trace_ids = trace_ids_var.get()
        if trace_ids:
            doc["trace_ids"] = list(trace_ids)
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in doc:
                doc[key] = REDACTED if SECRET_FIELD.search(key) else value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def ensure_logging(service: str) -> None:
    """Configure logging from the ``LP_LOG_*`` settings unless this process already has (``serve`` does, before
    uvicorn starts; the worker processes uvicorn spawns for ``LP_INGEST_WORKERS`` > 1 start bare, and without this
    their records went to Python's last-resort handler: warnings only, message text only)."""
    if logging.getLogger().handlers:
        return
    from shared.settings import ServiceSettings

    settings = ServiceSettings()
    configure_logging(service, level=settings.log_level, json_logs=settings.log_json)


def configure_logging(service: str, *, level: str = "INFO", json_logs: bool = True) -> None:
    """Route all logging to stderr, as JSON (or plain text for a terminal), once per process."""
    handler = logging.StreamHandler(sys.stderr)
    if json_logs:
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("kafka", "uvicorn.access", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
