"""Sentiment: the service path on short posts and long comments, and the linear fallback head."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from services.nlp.models import Analyzer, TextInput
from services.nlp.models.encoder import TorchEncoder
from services.nlp.models.sentiment import CLASSES, HeadFormatError, SentimentHead, softmax, tags_from_probabilities
from shared.contracts.feedback import SentimentLabel, SentimentTag

POSITIVE = [
    "Absolutely love this product, the team is amazing and it saves us so much time.",
    "Fantastic support, they fixed everything in minutes. Thank you so much!",
    "best update ever 😍🔥",
    "We moved our whole team over in March and it has been the smoothest software change I can remember. The "
    "import worked first time, the people on the chat answered every question within minutes, and our weekly "
    "reports are now ready before lunch. Thank you.",
]
NEGATIVE = [
    "This is the worst service ever, nothing works and nobody answers.",
    "Awful experience. The app crashed all week and we lost our data.",
    "lost my bag AGAIN 😡",
    "We have been customers for six years and this quarter was the last straw. Invoices were wrong three months "
    "running, each correction took weeks, and the account manager stopped replying to our emails altogether.",
]
NEUTRAL = [
    "What time does the billing team open on Mondays?",
    "Our account has 25 users on the annual plan.",
    "Please send me the link to the training recording.",
    "Is the 7am flight tomorrow affected by the strike?",
]


def sentiments(analyzer: Analyzer, texts: list[str]) -> list[SentimentTag]:
    return [a.sentiment for a in analyzer.analyze([TextInput(t) for t in texts])]


@pytest.mark.parametrize(
    ("texts", "label"),
    [(POSITIVE, SentimentLabel.POSITIVE), (NEGATIVE, SentimentLabel.NEGATIVE), (NEUTRAL, SentimentLabel.NEUTRAL)],
)
def test_service_path_on_posts_and_long_comments(
    analyzer: Analyzer, texts: list[str], label: SentimentLabel
) -> None:
    for text, tag in zip(texts, sentiments(analyzer, texts), strict=True):
        assert tag.label is label, text
        assert tag.confidence > 0.4, text
        if label is SentimentLabel.POSITIVE:
            assert tag.score > 0.3
        elif label is SentimentLabel.NEGATIVE:
            assert tag.score < -0.3
        else:
            assert abs(tag.score) < 0.5


def test_tags_from_probabilities() -> None:
    probs = softmax(np.asarray([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0], [-3.0, 1.0, 3.0]], dtype=np.float32))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-6)
    negative, even, positive = tags_from_probabilities(probs)
    assert negative.label is SentimentLabel.NEGATIVE
    assert negative.score == pytest.approx(float(probs[0, 2] - probs[0, 0]), abs=1e-6)
    assert negative.confidence == pytest.approx(float(probs[0].max()), abs=1e-6)
    assert even.label is SentimentLabel.NEGATIVE
    assert even.score == pytest.approx(0.0, abs=1e-6)
    assert positive.label is SentimentLabel.POSITIVE
    assert -1.0 <= positive.score <= 1.0


@pytest.fixture(scope="module")
def head() -> SentimentHead:
    return SentimentHead.load()


def test_fallback_head_is_a_3_by_384_linear_head(head: SentimentHead) -> None:
    assert head.weights.shape == (3, 384)
    assert head.bias.shape == (3,)
    assert len(head.version) == 8
    assert head.info["evaluation"]["macro_f1"] > 0.55


def test_fallback_head_on_stock_embeddings(head: SentimentHead, stock_encoder: TorchEncoder) -> None:
    texts = [POSITIVE[0], NEGATIVE[0], NEUTRAL[0]]
    embeddings = stock_encoder.encode(texts)
    probs = head.probabilities(embeddings)
    for row, tag in zip(probs, head.tag(embeddings), strict=True):
        assert tag.score == pytest.approx(float(row[2] - row[0]), abs=1e-6)
        assert tag.label is CLASSES[int(row.argmax())]
    assert [t.label for t in head.tag(embeddings)] == [
        SentimentLabel.POSITIVE,
        SentimentLabel.NEGATIVE,
        SentimentLabel.NEUTRAL,
    ]


def test_wrong_head_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "head.json"
    bad.write_text(json.dumps({"classes": ["negative", "neutral", "positive"], "weights": [[0.0]], "bias": [0, 0, 0]}))
    with pytest.raises(HeadFormatError, match="wrong shape"):
        SentimentHead.load(bad)
    bad.write_text("not json")
    with pytest.raises(HeadFormatError, match="not a sentiment head"):
        SentimentHead.load(bad)
