"""W3C ``traceparent`` handling: accept one from a caller or start a new trace, and carry it on."""

from __future__ import annotations

import re
import secrets

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def parse_trace_id(traceparent: str | None) -> str | None:
    """The trace id of a valid ``traceparent``, else None."""
    if not traceparent:
        return None
    match = _TRACEPARENT.match(traceparent.strip().lower())
    if not match or match.group(1) == "0" * 32:
        return None
    return match.group(1)


def child_traceparent(traceparent: str | None) -> str:
    """A ``traceparent`` for our own span: same trace as the caller's when valid, else a new trace."""
    trace_id = parse_trace_id(traceparent) or secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"
