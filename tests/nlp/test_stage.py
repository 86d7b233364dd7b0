"""Journey-stage tagging: source hints, the learned scorer over map-derived features, and maps never seen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from services.nlp.models.encoder import TextEncoder
from services.nlp.models.stage import (
    EVIDENCE,
    FEATURES,
    ScorerFormatError,
    StageClassifier,
    StageQuery,
    StageScorer,
    content_words,
    description_clauses,
    stem,
)
from shared.contracts.feedback import StageMethod, StageTag
from shared.contracts.journey_map import JourneyMap

HOTEL = {
    "company": "Harbour Hotel",
    "version": 1,
    "stages": [
        {
            "id": "booking",
            "name": "Booking a room",
            "order": 1,
            "description": "Finding and reserving a room on the website or by phone.",
            "examples": ["The booking website was confusing", "I could not find a room for my dates"],
        },
        {
            "id": "stay",
            "name": "The stay",
            "order": 2,
            "description": "Time at the hotel: the room, cleanliness, breakfast, staff.",
            "examples": ["The room was clean and quiet", "Breakfast was cold"],
        },
        {
            "id": "checkout",
            "name": "Check-out and payment",
            "order": 3,
            "description": "Leaving the hotel and paying the bill.",
            "examples": ["Check-out took forever", "The final bill had extra charges"],
            "keywords": ["minibar"],
        },
    ],
}


@pytest.fixture(scope="module")
def classifier(demo_map: JourneyMap, service_encoder: TextEncoder) -> StageClassifier:
    return StageClassifier(demo_map, service_encoder.encode)


def tag(
    classifier: StageClassifier,
    encoder: TextEncoder,
    text: str,
    provider: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> StageTag:
    return classifier.classify([StageQuery(text, provider, metadata)], encoder.encode([text]))[0]


def test_source_hint_wins_over_keywords_and_model(classifier: StageClassifier, service_encoder: TextEncoder) -> None:
    result = tag(
        classifier,
        service_encoder,
        "The support ticket about our invoice is still open.",
        "typeform",
        {"form_id": "onboarding-csat", "response_id": "r-1"},
    )
    assert (result.id, result.method, result.confidence) == ("onboarding", StageMethod.SOURCE_HINT, 1.0)
    assert "onboarding" not in {a.id for a in result.alternatives}
    # The text is about a support ticket on an invoice: the scorer's best two are those stages.
    assert {a.id for a in result.alternatives[:2]} == {"support", "renew"}


@pytest.mark.parametrize(
    ("provider", "metadata"),
    [("surveymonkey", {"form_id": "onboarding-csat"}), ("typeform", {"form_id": "quarterly-nps"}), ("typeform", {})],
)
def test_source_hint_needs_every_key_to_match(
    classifier: StageClassifier, service_encoder: TextEncoder, provider: str, metadata: dict[str, Any]
) -> None:
    result = tag(classifier, service_encoder, "We opened a ticket with support yesterday.", provider, metadata)
    assert result.method is not StageMethod.SOURCE_HINT
    assert result.id == "support"


def test_source_hint_places_an_item_without_text(classifier: StageClassifier, service_encoder: TextEncoder) -> None:
    result = tag(classifier, service_encoder, "", "typeform", {"form_id": "onboarding-csat"})
    assert (result.id, result.method, result.alternatives) == ("onboarding", StageMethod.SOURCE_HINT, [])


def test_blank_text_without_hint_has_no_stage(classifier: StageClassifier, service_encoder: TextEncoder) -> None:
    result = tag(classifier, service_encoder, "   ")
    assert (result.id, result.method, result.confidence, result.alternatives) == (None, StageMethod.NONE, 0.0, [])


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("Our KICKOFF was useful.", "onboarding"),
        ("I opened a ticket yesterday.", "support"),
        ("Where can I download the invoice?", "renew"),
        ("The Free   Trial is too short.", "buy"),
    ],
)
def test_keywords_whole_word_case_insensitive(
    classifier: StageClassifier, service_encoder: TextEncoder, text: str, stage: str
) -> None:
    result = tag(classifier, service_encoder, text)
    assert (result.id, result.method) == (stage, StageMethod.KEYWORD)
    assert result.confidence > 0.8


def test_keyword_inside_another_word_does_not_count(classifier: StageClassifier, service_encoder: TextEncoder) -> None:
    # "reports" is a keyword of "use"; "reportsummary" is not the word "reports".
    features = classifier.features(["reportsummary"], service_encoder.encode(["reportsummary"]))
    assert features[0, :, FEATURES.index("keywords")].sum() == 0
    assert tag(classifier, service_encoder, "reportsummary").method is not StageMethod.KEYWORD


def test_tied_keywords_are_not_reported_as_a_keyword_decision(
    classifier: StageClassifier, service_encoder: TextEncoder
) -> None:
    result = tag(classifier, service_encoder, "Our onboarding checklist is great, and the dashboards too.")
    assert result.id in {"onboarding", "use"}
    assert result.method is StageMethod.MODEL


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("It took us three weeks to connect our data sources and invite our users after signing.", "onboarding"),
        ("I have been waiting a week for someone from your help desk to answer my question.", "support"),
        ("Nobody from your team answered my emails about the error for five days.", "support"),
        ("We were charged twice this month and need the extra payment returned.", "renew"),
        ("Charts and graphs load slowly every morning.", "use"),
    ],
)
def test_model_tags_texts_without_keywords(
    classifier: StageClassifier, service_encoder: TextEncoder, text: str, stage: str
) -> None:
    result = tag(classifier, service_encoder, text)
    assert (result.id, result.method) == (stage, StageMethod.MODEL)
    assert result.confidence > 0.4
    assert len(result.alternatives) == 3
    assert stage not in {a.id for a in result.alternatives}
    confidences = [a.confidence for a in result.alternatives]
    assert confidences == sorted(confidences, reverse=True)
    assert result.confidence + sum(confidences) <= 1.0 + 1e-3


@pytest.mark.parametrize(
    "text",
    [
        "Banana pancakes with maple syrup are the best breakfast.",
        "Happy birthday to my mum!",
        "My cat likes to sleep on the warm laptop.",
    ],
)
def test_unrelated_text_gets_no_stage(classifier: StageClassifier, service_encoder: TextEncoder, text: str) -> None:
    result = tag(classifier, service_encoder, text)
    assert (result.id, result.method, result.confidence) == (None, StageMethod.NONE, 0.0)
    assert len(result.alternatives) == 3


def test_stages_come_from_the_map(service_encoder: TextEncoder) -> None:
    hotel = StageClassifier(JourneyMap.model_validate(HOTEL), service_encoder.encode)
    texts = [
        "The bathroom was dirty and the bed was uncomfortable.",
        "They billed the minibar twice.",
        "Your site would not let me reserve two nights in June.",
    ]
    stay, checkout, booking = hotel.classify([StageQuery(t) for t in texts], service_encoder.encode(texts))
    assert (stay.id, stay.method) == ("stay", StageMethod.MODEL)
    assert {a.id for a in stay.alternatives} == {"booking", "checkout"}
    assert (checkout.id, checkout.method) == ("checkout", StageMethod.KEYWORD)
    assert booking.id == "booking"


def test_a_new_map_retags_the_same_text(demo_map: JourneyMap, service_encoder: TextEncoder) -> None:
    text = "Check-out took forever and the bill was wrong."
    embedding = service_encoder.encode([text])
    northwind = StageClassifier(demo_map, service_encoder.encode).classify([StageQuery(text)], embedding)[0]
    hotel = StageClassifier(JourneyMap.model_validate(HOTEL), service_encoder.encode).classify(
        [StageQuery(text)], embedding
    )[0]
    assert northwind.id in demo_map.stage_ids()
    assert hotel.id == "checkout"


def test_features_have_one_row_per_stage(classifier: StageClassifier, service_encoder: TextEncoder) -> None:
    texts = ["The invoice is wrong", "Dashboards are slow"]
    features = classifier.features(texts, service_encoder.encode(texts))
    assert features.shape == (2, 6, len(FEATURES))
    renew = classifier.stage_ids.index("renew")
    assert features[0, renew, FEATURES.index("keywords")] == 1
    assert features[0, renew, FEATURES.index("lexical")] > 0
    cosines = features[:, :, :5]
    assert np.all(cosines <= 1.0 + 1e-5)
    assert np.all(cosines >= -1.0 - 1e-5)


def test_misaligned_embeddings_are_refused(classifier: StageClassifier, service_encoder: TextEncoder) -> None:
    with pytest.raises(ValueError, match="2 queries but 1 embeddings"):
        classifier.classify([StageQuery("a"), StageQuery("b")], service_encoder.encode(["a"]))


def test_text_helpers() -> None:
    assert stem("delayed") == stem("delay") == "delay"
    assert stem("refunds") == "refund"
    assert stem("cancelled") == "cancel"
    assert content_words("The refunds were DELAYED again, 3 weeks!") == {"refund", "delay", "week"}
    clauses = description_clauses("Invoices, charges and payment; refunds.")
    assert clauses == ["Invoices", "charges", "payment", "refunds"]


def test_committed_scorer_loads_and_reports_its_evaluation() -> None:
    scorer = StageScorer.load()
    assert len(scorer.version) == 8
    assert scorer.info["evaluation"]["leave_one_company_out_mean"] > 0.75


def test_bad_scorer_files_are_refused(tmp_path: Path) -> None:
    bad = tmp_path / "scorer.json"
    bad.write_text("{")
    with pytest.raises(ScorerFormatError, match="not a stage scorer"):
        StageScorer.load(bad)
    shaped = {"features": list(FEATURES), "evidence": list(EVIDENCE), "stage_weights": [1.0], "none_weights": [0.0] * 8}
    bad.write_text(json.dumps(shaped))
    with pytest.raises(ScorerFormatError, match="wrong shape"):
        StageScorer.load(bad)
    bad.write_text(json.dumps({"features": ["x"], "evidence": list(EVIDENCE), "stage_weights": [], "none_weights": []}))
    with pytest.raises(ScorerFormatError, match="features"):
        StageScorer.load(bad)
