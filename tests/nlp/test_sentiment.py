"""The sentiment head: its file, and sanity on plainly positive, negative and neutral feedback."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.nlp.models.encoder import TextEncoder
from services.nlp.models.sentiment import CLASSES, HeadFormatError, SentimentHead
from shared.contracts.feedback import SentimentLabel


@pytest.fixture(scope="module")
def encoder() -> TextEncoder:
    return TextEncoder.load()


@pytest.fixture(scope="module")
def head() -> SentimentHead:
    return SentimentHead.load()


def label_of(encoder: TextEncoder, head: SentimentHead, text: str) -> tuple[SentimentLabel, float, float]:
    tag = head.tag(encoder.encode([text]))[0]
    return tag.label, tag.score, tag.confidence


def test_committed_head_is_a_3_by_384_linear_head(head: SentimentHead) -> None:
    assert head.weights.shape == (3, 384)
    assert head.bias.shape == (3,)
    assert len(head.version) == 8
    assert head.info["evaluation"]["macro_f1"] > 0.55


@pytest.mark.parametrize(
    "text",
    [
        "Absolutely love this product, the team is amazing and it saves us so much time.",
        "Fantastic support, they fixed everything in minutes. Thank you so much!",
        "The onboarding was wonderful and our team loves the dashboards.",
    ],
)
def test_positive(encoder: TextEncoder, head: SentimentHead, text: str) -> None:
    label, score, confidence = label_of(encoder, head, text)
    assert label is SentimentLabel.POSITIVE
    assert score > 0.5
    assert confidence > 0.5


@pytest.mark.parametrize(
    "text",
    [
        "This is the worst service ever, nothing works and nobody answers.",
        "Awful experience. The app crashed all week and we lost our data.",
        "I am furious, we were overcharged again and support ignored us.",
    ],
)
def test_negative(encoder: TextEncoder, head: SentimentHead, text: str) -> None:
    label, score, confidence = label_of(encoder, head, text)
    assert label is SentimentLabel.NEGATIVE
    assert score < -0.5
    assert confidence > 0.5


@pytest.mark.parametrize(
    "text",
    [
        "What time does the billing team open on Mondays?",
        "Our account has 25 users on the annual plan.",
        "Please send me the link to the training recording.",
        "We moved our reporting to the new workspace last Tuesday.",
    ],
)
def test_neutral(encoder: TextEncoder, head: SentimentHead, text: str) -> None:
    label, score, _ = label_of(encoder, head, text)
    assert label is SentimentLabel.NEUTRAL
    assert abs(score) < 0.3


def test_score_is_p_positive_minus_p_negative(encoder: TextEncoder, head: SentimentHead) -> None:
    embeddings = encoder.encode(["Great tool.", "Terrible tool.", "A tool."])
    probs = head.probabilities(embeddings)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    for row, tag in zip(probs, head.tag(embeddings), strict=True):
        assert tag.score == pytest.approx(float(row[2] - row[0]), abs=1e-6)
        assert tag.confidence == pytest.approx(float(row.max()), abs=1e-6)
        assert tag.label is CLASSES[int(row.argmax())]


def test_wrong_shape_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "head.json"
    bad.write_text(json.dumps({"classes": ["negative", "neutral", "positive"], "weights": [[0.0]], "bias": [0, 0, 0]}))
    with pytest.raises(HeadFormatError, match="wrong shape"):
        SentimentHead.load(bad)
    bad.write_text("not json")
    with pytest.raises(HeadFormatError, match="not a sentiment head"):
        SentimentHead.load(bad)
