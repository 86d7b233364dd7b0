"""The batched Analyzer: one call tags everything, and no input makes it raise."""

from __future__ import annotations

import os
import re

import pytest

from services.nlp.models import Analysis, Analyzer, TextInput
from shared.contracts.feedback import SentimentLabel, StageMethod
from shared.contracts.journey_map import JourneyMap


def one(analyzer: Analyzer, text: str, provider: str | None = None) -> Analysis:
    return analyzer.analyze([TextInput(text, provider)])[0]


def test_model_version_names_encoder_sentiment_and_stage_scorer(analyzer: Analyzer) -> None:
    pattern = r"minilm-l6-(ft-[0-9a-f]{8}\+sent|v2\+sent-head-[0-9a-f]{8})\+stage-[0-9a-f]{8}"
    assert re.fullmatch(pattern, analyzer.model_version)


def test_a_batch_keeps_its_order_and_fills_every_field(analyzer: Analyzer) -> None:
    inputs = [
        TextInput("Support never answered my ticket and I'm angry. Reach me at ana@lumen.example"),
        TextInput(""),
        TextInput("Die Einrichtung war einfach, aber der Support ist leider sehr langsam."),
        TextInput("Thanks, the onboarding checklist was great!", "typeform", {"form_id": "onboarding-csat"}),
    ]
    angry, empty, german, hinted = analyzer.analyze(inputs)

    assert angry.sentiment.label is SentimentLabel.NEGATIVE
    assert angry.stage.id == "support"
    assert angry.language == "en"
    assert angry.redactions == ["email"]
    assert angry.redacted_text.endswith("Reach me at [email]")
    assert "ana@" not in " ".join(angry.key_phrases)

    assert empty.stage.id is None
    assert german.language == "de"
    assert (german.sentiment.confidence, german.stage.id) == (0.0, None)
    assert "einrichtung" in german.key_phrases
    assert (hinted.stage.id, hinted.stage.method) == ("onboarding", StageMethod.SOURCE_HINT)
    assert hinted.sentiment.label is SentimentLabel.POSITIVE


def test_batch_and_single_calls_agree(analyzer: Analyzer) -> None:
    # The ONNX encoder runs every text alone, so its tags never depend on the rest of the batch (a rebuild
    # from the raw store re-tags items in other batches); the torch fallback pads batches, float noise only.
    texts = ["The invoice is wrong again.", "Dashboards are fast now, thank you.", "Can I add a user?"]
    batched = analyzer.analyze([TextInput(t) for t in texts])
    singles = [one(analyzer, t) for t in texts]
    for b, s in zip(batched, singles, strict=True):
        assert b.stage.id == s.stage.id
        assert b.stage.confidence == pytest.approx(s.stage.confidence, abs=1e-3)
        assert b.sentiment.label == s.sentiment.label
        assert b.sentiment.score == pytest.approx(s.sentiment.score, abs=1e-4)


def test_same_batch_gives_identical_results(analyzer: Analyzer) -> None:
    inputs = [TextInput("Support took a week to answer."), TextInput("Great onboarding!")]
    assert analyzer.analyze(inputs) == analyzer.analyze(inputs)


def test_empty_batch(analyzer: Analyzer) -> None:
    assert analyzer.analyze([]) == []


@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text(analyzer: Analyzer, text: str) -> None:
    result = one(analyzer, text)
    assert (result.sentiment.label, result.sentiment.score, result.sentiment.confidence) == (
        SentimentLabel.NEUTRAL,
        0.0,
        0.0,
    )
    assert (result.stage.id, result.stage.method) == (None, StageMethod.NONE)
    assert (result.language, result.key_phrases, result.redactions) == ("und", [], [])
    assert result.redacted_text == text


def test_one_megabyte_text(analyzer: Analyzer) -> None:
    text = "Our invoice was wrong, call 415-555-0132. " * 25_000
    assert len(text) > 1_000_000
    result = one(analyzer, text)
    # The models read the leading 5,000 characters: the huge text is tagged as that head is.
    head = one(analyzer, text[:5000])
    assert result.stage.id is not None
    assert (result.stage, result.sentiment) == (head.stage, head.sentiment)
    assert result.language == "en"
    assert result.redactions == ["phone"]
    assert len(result.redacted_text) > 900_000
    assert "555-0132" not in result.redacted_text
    assert len(result.key_phrases) <= 5


def test_binary_looking_text_gets_the_unknown_tags(analyzer: Analyzer) -> None:
    text = os.urandom(4096).decode("latin-1") + "\x00\x01 mail x@y.example \ufffd\ufffd"
    result = one(analyzer, text)
    assert result.language == "und"
    assert "email" in result.redactions
    assert "x@y.example" not in result.redacted_text
    assert (result.sentiment.label, result.sentiment.confidence) == (SentimentLabel.NEUTRAL, 0.0)
    assert (result.stage.id, result.key_phrases) == (None, [])


@pytest.mark.parametrize(
    "text",
    [
        "Le support client ne répond jamais et la facture est fausse.",
        "El soporte es muy lento y nadie responde a mis correos.",
    ],
)
def test_text_in_another_language_gets_the_unknown_tags(analyzer: Analyzer, text: str) -> None:
    result = one(analyzer, text)
    assert result.language in {"fr", "es"}
    assert (result.sentiment.label, result.sentiment.score, result.sentiment.confidence) == (
        SentimentLabel.NEUTRAL,
        0.0,
        0.0,
    )
    assert (result.stage.id, result.stage.method) == (None, StageMethod.NONE)
    assert result.key_phrases


def test_other_language_still_placed_by_a_source_hint(analyzer: Analyzer) -> None:
    result = analyzer.analyze(
        [TextInput("La configuración fue muy lenta.", "typeform", {"form_id": "onboarding-csat"})]
    )[0]
    assert (result.language, result.stage.id, result.stage.method) == ("es", "onboarding", StageMethod.SOURCE_HINT)


def test_only_control_characters(analyzer: Analyzer) -> None:
    result = one(analyzer, "\x00\x01\x02\x03")
    assert result.sentiment.confidence == 0.0
    assert result.stage.id is None
    assert result.language == "und"


def test_with_journey_map_reuses_the_encoder(analyzer: Analyzer) -> None:
    shop = JourneyMap.model_validate(
        {
            "company": "Corner Shop",
            "version": 3,
            "stages": [
                {"id": "browse", "name": "Browsing the shop", "order": 1, "examples": ["Nice shelves"]},
                {"id": "delivery", "name": "Delivery of the order", "order": 2, "examples": ["Parcel came late"]},
            ],
        }
    )
    swapped = analyzer.with_journey_map(shop)
    assert swapped.journey_map.version == 3
    assert swapped.encoder is analyzer.encoder
    assert swapped.model_version == analyzer.model_version
    result = swapped.analyze([TextInput("My parcel arrived three days late and the box was crushed.")])[0]
    assert result.stage.id == "delivery"
    assert [a.id for a in result.stage.alternatives] == ["browse"]
    assert analyzer.journey_map.company == "Northwind Cloud"
