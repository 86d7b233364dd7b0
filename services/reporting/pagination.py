"""Opaque cursors for keyset pagination."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from services.reporting.feedback.repository import Position
from shared.http import ServiceError


class InvalidCursor(ServiceError):
    """A cursor this service did not hand out (or that was altered)."""

    status_code = 400
    code = "invalid_cursor"


def encode_cursor(position: Position) -> str:
    """The cursor that resumes after ``position``."""
    doc = {"t": position.occurred_at.isoformat(), "id": position.feedback_id}
    return base64.urlsafe_b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a cursor stands for; ``InvalidCursor`` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        doc = json.loads(raw)
        return Position(datetime.fromisoformat(doc["t"]), str(doc["id"]))
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("the cursor is not one this API returned") from exc
