"""Opaque cursors for keyset pagination: the sort key of the last item of a page."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from shared.http import ServiceError


class InvalidCursor(ServiceError):
    """A cursor this service did not hand out (or that was altered)."""

    status_code = 400
    code = "invalid_cursor"


def encode_cursor(*key: str | float | datetime) -> str:
    """The cursor that resumes after an item with this sort key."""
    doc = [k.isoformat() if isinstance(k, datetime) else k for k in key]
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *types: type) -> tuple[Any, ...]:
    """The sort key a cursor stands for, converted to ``types``; ``InvalidCursor`` for anything else."""
    try:
        doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(doc, list) or len(doc) != len(types):
            raise ValueError("wrong shape")
        return tuple(datetime.fromisoformat(v) if t is datetime else t(v) for v, t in zip(doc, types, strict=True))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc
