"""The bank of labelled tuning items behind the stage tagger's ``neighbours`` feature and "none" evidence."""

from __future__ import annotations

import numpy as np

from services.nlp.models.encoder import TextEncoder
from services.nlp.models.journey_sets import Split, load_sets, tuning_companies
from services.nlp.models.neighbours import NeighbourBank, tuning_bank
from services.nlp.models.stage import EVIDENCE, FEATURES, StageClassifier, StageQuery
from shared.contracts.journey_map import JourneyMap


def test_tuning_bank_holds_every_tuning_item_and_no_held_out_one(service_encoder: TextEncoder) -> None:
    bank = tuning_bank(service_encoder.encode)
    tuning = load_sets(Split.TUNING)
    assert len(bank) == sum(len(s.items) for s in tuning)
    assert set(bank.companies) | set(bank.none_companies) == set(tuning_companies())
    held_out = load_sets(Split.HELDOUT)[0]
    embedded = service_encoder.encode([i.text for i in held_out.items]).astype(np.float64)
    # No held-out text is in the bank: none has a bank vector identical to its own.
    assert float((embedded @ np.concatenate([bank.vectors, bank.none_vectors]).T).max()) < 0.999
    assert np.allclose(np.linalg.norm(bank.stage_centroids, axis=1), 1.0, atol=1e-5)


def test_without_leaves_a_company_out(service_encoder: TextEncoder) -> None:
    bank = tuning_bank(service_encoder.encode)
    company = bank.companies[0]
    smaller = bank.without(company)
    assert company not in smaller.companies
    assert company not in smaller.none_companies
    assert len(smaller.vectors) == len(smaller.companies) == len(smaller.stage_centroids)
    assert len(smaller) == len(bank) - sum(c == company for c in bank.companies + bank.none_companies)


def test_a_bank_item_votes_for_the_stage_of_the_new_map_closest_to_its_own(
    demo_map: JourneyMap, service_encoder: TextEncoder
) -> None:
    [journey_set] = [s for s in load_sets(Split.TUNING) if s.journey_map.company == demo_map.company]
    item = next(i for i in journey_set.items if i.stage is not None)
    classifier = StageClassifier(demo_map, service_encoder.encode)
    votes = classifier.features([item.text], service_encoder.encode([item.text]))[0, :, FEATURES.index("neighbours")]
    assert abs(float(votes.sum()) - 1.0) < 1e-6
    assert classifier.stage_ids[int(votes.argmax())] == item.stage


def test_evidence_is_the_nearest_bank_items(demo_map: JourneyMap, service_encoder: TextEncoder) -> None:
    bank = tuning_bank(service_encoder.encode)
    classifier = StageClassifier(demo_map, service_encoder.encode)
    evidence = classifier.evidence(bank.none_vectors[:2].astype(np.float32))
    assert evidence.shape == (2, len(EVIDENCE))
    assert np.allclose(evidence[:, EVIDENCE.index("nearest_none")], 1.0, atol=1e-5)


def test_an_empty_bank_still_tags(demo_map: JourneyMap, service_encoder: TextEncoder) -> None:
    classifier = StageClassifier(demo_map, service_encoder.encode, bank=NeighbourBank.empty())
    text = "Where can I download the invoice?"
    embedding = service_encoder.encode([text])
    features = classifier.features([text], embedding)
    assert np.all(features[0, :, FEATURES.index("neighbours")] == 0)
    assert np.all(classifier.evidence(embedding) == 0)
    assert classifier.classify([StageQuery(text)], embedding)[0].id == "renew"
