"""Ids of items and events."""

from __future__ import annotations

import uuid

from services.ingest.ids import event_id


def test_event_ids_are_version_4_uuids_in_canonical_form() -> None:
    ids = [event_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
