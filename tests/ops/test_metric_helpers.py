"""The two helpers that keep metrics cheap and bounded."""

from __future__ import annotations

import time

from shared.observability.metrics import BoundedLabel, Every


def test_a_bounded_label_passes_its_first_values_then_reads_other() -> None:
    label = BoundedLabel(limit=2)
    assert [label(v) for v in ("a", "b", "c", "a", "d", "b")] == ["a", "b", "other", "a", "other", "b"]


def test_every_answers_true_at_most_once_per_interval() -> None:
    every = Every(60.0)
    assert every.due()
    assert not every.due()
    always = Every(0.0)
    assert always.due()
    assert always.due()
    soon = Every(0.05)
    assert soon.due()
    deadline = time.monotonic() + 5
    while not soon.due():
        assert time.monotonic() < deadline
