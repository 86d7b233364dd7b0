"""VADER (Hutto & Gilbert, ICWSM 2014) as an optional sentiment baseline and fallback.

Needs the ``vaderSentiment`` package (its lexicon ships inside the wheel; nothing is downloaded).
Labels follow the VADER authors' thresholds on the compound score: <= -0.05 negative, >= 0.05
positive, neutral between. Confidence is the share of the text's lexicon mass in the chosen class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.contracts.feedback import SentimentLabel, SentimentTag

THRESHOLD = 0.05


class VaderUnavailable(RuntimeError):
    """The ``vaderSentiment`` package is not installed."""


class VaderSentiment:
    """Rule-based sentiment from the VADER lexicon; ``tag`` never raises for odd text."""

    name = "vader-3.3"

    def __init__(self) -> None:
        try:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # type: ignore[import-untyped]
        except ImportError as exc:
            raise VaderUnavailable("VADER needs the vaderSentiment package: pip install vaderSentiment") from exc
        self._analyzer: Any = SentimentIntensityAnalyzer()

    def tag(self, texts: Sequence[str]) -> list[SentimentTag]:
        """One tag per text: label from the compound score, score = compound, confidence = class share."""
        return [self._tag_one(text) for text in texts]

    def _tag_one(self, text: str) -> SentimentTag:
        scores: dict[str, float] = self._analyzer.polarity_scores(text)
        compound = max(-1.0, min(1.0, float(scores["compound"])))
        if compound >= THRESHOLD:
            label, share = SentimentLabel.POSITIVE, scores["pos"]
        elif compound <= -THRESHOLD:
            label, share = SentimentLabel.NEGATIVE, scores["neg"]
        else:
            label, share = SentimentLabel.NEUTRAL, scores["neu"]
        return SentimentTag(label=label, score=compound, confidence=max(0.0, min(1.0, float(share))))
