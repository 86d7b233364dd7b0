"""W3C ``traceparent`` handling: accept one from a caller or start a new trace, and carry it on.

The trace id travels in the CloudEvents envelope's ``traceparent`` of every event an item causes (ingest sets
it, nlp and journey copy it), and is bound to the log lines written for it (``logs.trace_context``).
"""

from __future__ import annotations

import re

from shared.ids import random_hex
from shared.observability.logs import trace_id_var

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse_trace_id(traceparent: str | None) -> str | None:
    """The trace id of a valid ``traceparent``, else None."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if not match or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def new_trace_id() -> str:
    """A fresh random trace id (32 hex digits)."""
    return random_hex(32)


def child_traceparent(traceparent: str | None) -> str:
    """A ``traceparent`` for our own span: the caller's trace when valid, else the trace bound to the current
    request (the HTTP middleware mints one), else a new trace."""
    trace_id = parse_trace_id(traceparent) or trace_id_var.get() or new_trace_id()
    return f"00-{trace_id}-{random_hex(16)}-01"
