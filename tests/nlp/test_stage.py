"""Journey-stage tagging against the demo journey map, and against a map it has never seen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.nlp.models.encoder import TextEncoder
from services.nlp.models.stage import StageClassifier, StageQuery
from shared.contracts.feedback import StageMethod, StageTag
from shared.contracts.journey_map import JourneyMap

DEMO_MAP = Path(__file__).resolve().parents[2] / "services" / "demo" / "journey_map.yaml"


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load()


@pytest.fixture(scope="module")
def classifier(encoder: TextEncoder) -> StageClassifier:
    return StageClassifier(JourneyMap.load(DEMO_MAP), encoder.encode)


def tag(
    classifier: StageClassifier,
    encoder: TextEncoder,
    text: str,
    provider: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> StageTag:
    return classifier.classify([StageQuery(text, provider, metadata)], encoder.encode([text]))[0]


def test_source_hint_wins_over_keywords_and_model(classifier: StageClassifier, encoder: TextEncoder) -> None:
    result = tag(
        classifier,
        encoder,
        "The support ticket about our invoice is still open.",
        "typeform",
        {"form_id": "onboarding-csat", "response_id": "r-1"},
    )
    assert (result.id, result.method, result.confidence) == ("onboarding", StageMethod.SOURCE_HINT, 1.0)
    assert "onboarding" not in {a.id for a in result.alternatives}


@pytest.mark.parametrize(
    ("provider", "metadata"),
    [("surveymonkey", {"form_id": "onboarding-csat"}), ("typeform", {"form_id": "quarterly-nps"}), ("typeform", {})],
)
def test_source_hint_needs_every_key_to_match(
    classifier: StageClassifier, encoder: TextEncoder, provider: str, metadata: dict[str, Any]
) -> None:
    result = tag(classifier, encoder, "We opened a ticket with support yesterday.", provider, metadata)
    assert result.method is not StageMethod.SOURCE_HINT
    assert result.id == "support"


def test_source_hint_places_an_item_without_text(classifier: StageClassifier, encoder: TextEncoder) -> None:
    result = tag(classifier, encoder, "", "typeform", {"form_id": "onboarding-csat"})
    assert (result.id, result.method) == ("onboarding", StageMethod.SOURCE_HINT)


def test_blank_text_without_hint_has_no_stage(classifier: StageClassifier, encoder: TextEncoder) -> None:
    result = tag(classifier, encoder, "   ")
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
    classifier: StageClassifier, encoder: TextEncoder, text: str, stage: str
) -> None:
    result = tag(classifier, encoder, text)
    assert (result.id, result.method) == (stage, StageMethod.KEYWORD)
    assert 0.6 <= result.confidence < 1.0


def test_keyword_inside_another_word_does_not_count(classifier: StageClassifier, encoder: TextEncoder) -> None:
    # "reports" is a keyword of "use"; "reportsummary" is not the word "reports".
    assert tag(classifier, encoder, "reportsummary").method is not StageMethod.KEYWORD


def test_tied_keywords_leave_it_to_the_model(classifier: StageClassifier, encoder: TextEncoder) -> None:
    result = tag(classifier, encoder, "Our onboarding checklist is great, and the dashboards too.")
    assert result.method is StageMethod.MODEL


def test_dominant_keywords_win(classifier: StageClassifier, encoder: TextEncoder) -> None:
    result = tag(classifier, encoder, "The support ticket about our invoice is still open.")
    assert (result.id, result.method) == ("support", StageMethod.KEYWORD)
    assert result.alternatives[0].id == "renew"
    assert result.confidence + sum(a.confidence for a in result.alternatives) <= 1.0 + 1e-6


@pytest.mark.parametrize(
    ("text", "stage"),
    [
        ("It took us three weeks to connect our data sources and invite our users after signing.", "onboarding"),
        ("Connecting our database and importing the historical data failed on day one.", "onboarding"),
        ("I have been waiting a week for someone from your help desk to answer my question.", "support"),
        ("Nobody from your team answered my emails about the error for five days.", "support"),
        ("We were charged twice this month and need the extra payment returned.", "renew"),
        ("The amount on our latest bill is wrong, we pay for users we removed.", "renew"),
        ("Charts and graphs load slowly every morning.", "use"),
    ],
)
def test_model_tags_obvious_texts(classifier: StageClassifier, encoder: TextEncoder, text: str, stage: str) -> None:
    result = tag(classifier, encoder, text)
    assert (result.id, result.method) == (stage, StageMethod.MODEL)
    assert result.confidence > 0.5
    assert len(result.alternatives) == 3
    assert stage not in {a.id for a in result.alternatives}
    confidences = [a.confidence for a in result.alternatives]
    assert confidences == sorted(confidences, reverse=True)
    assert all(c <= result.confidence for c in confidences)


@pytest.mark.parametrize(
    "text",
    [
        "Banana pancakes with maple syrup are the best breakfast.",
        "asdf qwerty zxcv",
        "The football match last night went to penalties.",
        "My cat likes to sleep on the warm laptop.",
    ],
)
def test_unrelated_text_gets_no_stage(classifier: StageClassifier, encoder: TextEncoder, text: str) -> None:
    result = tag(classifier, encoder, text)
    assert (result.id, result.method, result.confidence) == (None, StageMethod.NONE, 0.0)
    assert len(result.alternatives) == 3


def test_stages_come_from_the_map(encoder: TextEncoder) -> None:
    hotel = JourneyMap.model_validate(
        {
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
    )
    hotel_classifier = StageClassifier(hotel, encoder.encode)
    texts = ["The bathroom was dirty and the bed was uncomfortable.", "They billed the minibar twice."]
    stay, checkout = hotel_classifier.classify([StageQuery(t) for t in texts], encoder.encode(texts))
    assert (stay.id, stay.method) == ("stay", StageMethod.MODEL)
    assert {a.id for a in stay.alternatives} == {"booking", "checkout"}
    assert (checkout.id, checkout.method) == ("checkout", StageMethod.KEYWORD)


def test_misaligned_embeddings_are_refused(classifier: StageClassifier, encoder: TextEncoder) -> None:
    with pytest.raises(ValueError, match="2 queries but 1 embeddings"):
        classifier.classify([StageQuery("a"), StageQuery("b")], encoder.encode(["a"]))
