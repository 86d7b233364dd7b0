"""Ids of items and events: unique, and ordered by the time they were made."""

from __future__ import annotations

import time
import uuid

from shared.ids import event_id, time_ordered_hex


def test_event_ids_are_version_7_uuids_in_canonical_form() -> None:
    before = time.time_ns() // 1_000_000
    ids = [event_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
        assert before <= parsed.int >> 80 <= after  # the first 48 bits: Unix time in milliseconds


def test_ids_made_later_sort_after() -> None:
    """Ids of different milliseconds sort by time, so new rows land at the end of the indexes on them."""
    first_event, first_hex = event_id(), time_ordered_hex()
    start = time.monotonic()
    while time.monotonic() - start < 0.003:  # into a later millisecond (monotonic: no sleep granularity issue)
        pass
    assert event_id() > first_event
    assert time_ordered_hex() > first_hex
    values = [time_ordered_hex() for _ in range(2000)]
    assert len(set(values)) == len(values)
    assert all(len(v) == 32 and int(v, 16) >= 0 for v in values)
