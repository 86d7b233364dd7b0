"""The labelled journey sets: enough items, several companies, a held-out part kept apart."""

from __future__ import annotations

from collections import Counter

from services.nlp.models.journey_sets import Split, load_sets, tuning_companies
from shared.contracts.feedback import SentimentLabel


def test_sets_are_large_and_span_several_companies_with_their_own_maps() -> None:
    tuning, held_out = load_sets(Split.TUNING), load_sets(Split.HELDOUT)
    items = [i for s in tuning + held_out for i in s.items]
    assert len(items) >= 300
    companies = {s.journey_map.company for s in tuning + held_out}
    assert len(companies) >= 5
    assert sum(len(s.items) for s in held_out) >= 250


def test_held_out_part_is_disjoint_and_includes_unseen_companies() -> None:
    tuning, held_out = load_sets(Split.TUNING), load_sets(Split.HELDOUT)
    tuning_ids = {i.id for s in tuning for i in s.items}
    held_ids = {i.id for s in held_out for i in s.items}
    assert not tuning_ids & held_ids
    tuning_texts = {i.text for s in tuning for i in s.items}
    assert not tuning_texts & {i.text for s in held_out for i in s.items}
    unseen = {s.company for s in held_out} - set(tuning_companies())
    assert len(unseen) >= 3


def test_labels_cover_every_class_and_no_stage() -> None:
    items = [i for s in load_sets(Split.TUNING) + load_sets(Split.HELDOUT) for i in s.items]
    sentiments = Counter(i.sentiment for i in items)
    assert set(sentiments) == set(SentimentLabel)
    assert min(sentiments.values()) >= 0.15 * len(items)
    assert sum(1 for i in items if i.stage is None) >= 20
