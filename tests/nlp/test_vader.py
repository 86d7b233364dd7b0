"""VADER: the optional lexicon baseline and fallback."""

from __future__ import annotations

from services.nlp.models import Analyzer, SentimentBackend, TextInput
from services.nlp.models.vader import VaderSentiment
from shared.contracts.feedback import SentimentLabel
from shared.contracts.journey_map import JourneyMap


def test_vader_labels_follow_the_compound_thresholds() -> None:
    positive, negative, neutral, empty = VaderSentiment().tag(
        ["I love this, great job!", "This is awful and I hate it.", "The office opens at nine.", ""]
    )
    assert positive.label is SentimentLabel.POSITIVE
    assert positive.score >= 0.05
    assert negative.label is SentimentLabel.NEGATIVE
    assert negative.score <= -0.05
    assert (neutral.label, neutral.score) == (SentimentLabel.NEUTRAL, 0.0)
    assert (empty.label, empty.score) == (SentimentLabel.NEUTRAL, 0.0)
    assert all(0.0 <= t.confidence <= 1.0 for t in (positive, negative, neutral, empty))


def test_analyzer_can_use_vader_for_sentiment(demo_map: JourneyMap) -> None:
    analyzer = Analyzer.load(demo_map, threads=2, sentiment=SentimentBackend.VADER)
    assert analyzer.model_version.split("+")[1] == VaderSentiment.name
    happy, foreign = analyzer.analyze(
        [TextInput("Great support, thank you!"), TextInput("El soporte es muy lento y nadie responde.")]
    )
    assert happy.sentiment.label is SentimentLabel.POSITIVE
    assert happy.stage.id == "support"
    assert (foreign.sentiment.confidence, foreign.language) == (0.0, "es")
