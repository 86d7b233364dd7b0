"""The NLP models behind one call: redact, embed once, then tag sentiment, stage, language, key phrases."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from services.nlp.models.encoder import EMBEDDING_DIM, TextEncoder
from services.nlp.models.keyphrases import extract_key_phrases
from services.nlp.models.language import UNDETERMINED, detect_language, looks_binary
from services.nlp.models.pii import redact
from services.nlp.models.sentiment import NEUTRAL_EMPTY, SentimentHead, softmax, tags_from_probabilities
from services.nlp.models.stage import StageClassifier, StageQuery, StageScorer
from services.nlp.models.vader import VaderSentiment
from shared.contracts.feedback import SentimentTag, StageTag
from shared.contracts.journey_map import JourneyMap

MODEL_CHARS = 5000
"""Only this many leading characters of a text reach the models (256 tokens is far less anyway)."""
MODEL_LANGUAGES = frozenset({"en", UNDETERMINED})
"""Languages the English MiniLM reads; other detected languages get the "unknown" tags."""

# Control characters other than tab and newline: noise for the tokenizer, common in binary junk.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]+")


class SentimentBackend(StrEnum):
    """Where sentiment comes from: the trained model (default) or the VADER lexicon (baseline/fallback)."""

    MODEL = "model"
    VADER = "vader"


@dataclass(frozen=True)
class TextInput:
    """One text to analyse, with where it came from (provider and its metadata feed source hints)."""

    text: str
    provider: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Analysis:
    """Everything the models say about one text.

    ``redacted_text`` is the full text with personal data replaced by ``[email]``-style
    placeholders; ``redactions`` lists the kinds replaced, sorted.
    """

    sentiment: SentimentTag
    stage: StageTag
    language: str
    key_phrases: list[str]
    redacted_text: str
    redactions: list[str]


class Analyzer:
    """Loaded models for one journey map. Build with ``Analyzer.load``; swap maps with ``with_journey_map``.

    ``analyze`` never raises for odd input. A text the models cannot read gets the "unknown" tags
    (sentiment neutral with score 0 and confidence 0; no stage unless a source hint places it):
    empty or blank text, binary-looking text (language ``"und"``), and text detected as a language
    other than English (its language code is still reported, PII still redacted, key phrases still
    extracted). Huge text is cut to 5,000 characters for the models; redaction covers all of it.
    """

    def __init__(
        self,
        encoder: TextEncoder,
        stages: StageClassifier,
        *,
        head: SentimentHead | None = None,
        vader: VaderSentiment | None = None,
    ) -> None:
        if vader is None and head is None and not encoder.has_sentiment:
            raise ValueError("the encoder has no sentiment head: pass a SentimentHead or VADER")
        self._encoder = encoder
        self._stages = stages
        self._head = head
        self._vader = vader
        self.journey_map: JourneyMap = stages.journey_map
        if vader is not None:
            sentiment = vader.name
        elif encoder.has_sentiment:
            sentiment = "sent"
        else:
            sentiment = f"sent-head-{head.version if head else 'none'}"
        self.model_version = f"{encoder.name}+{sentiment}+stage-{stages.scorer.version}"

    @property
    def encoder(self) -> TextEncoder:
        """The loaded sentence encoder (shared by analyzers made with ``with_journey_map``)."""
        return self._encoder

    @classmethod
    def load(
        cls,
        journey_map: JourneyMap,
        *,
        threads: int | None = None,
        model_dir: Path | None = None,
        sentiment: SentimentBackend | str = SentimentBackend.MODEL,
    ) -> Analyzer:
        """Load the encoder (the fine-tuned model when built), the stage scorer, and embed the map's stages.

        ``threads`` caps the inference threads; ``model_dir`` overrides where the fine-tuned model is
        looked for; ``sentiment="vader"`` tags sentiment with the VADER lexicon instead of the model
        (needs the ``vaderSentiment`` package).
        """
        encoder = TextEncoder.load(threads=threads, model_dir=model_dir)
        backend = SentimentBackend(sentiment)
        vader = VaderSentiment() if backend is SentimentBackend.VADER else None
        head = SentimentHead.load() if vader is None and not encoder.has_sentiment else None
        stages = StageClassifier(journey_map, encoder.encode, StageScorer.load())
        return cls(encoder, stages, head=head, vader=vader)

    def with_journey_map(self, journey_map: JourneyMap) -> Analyzer:
        """A new analyzer for ``journey_map`` sharing this one's models; re-embeds only the map's stages."""
        stages = StageClassifier(journey_map, self._encoder.encode, self._stages.scorer)
        return Analyzer(self._encoder, stages, head=self._head, vader=self._vader)

    def analyze(self, inputs: Sequence[TextInput]) -> list[Analysis]:
        """Analyse ``inputs`` in order, with a single encoder pass over all texts the models can read."""
        redacted: list[tuple[str, list[str]]] = []
        languages: list[str] = []
        model_texts: list[str] = []
        for item in inputs:
            text = item.text if isinstance(item.text, str) else str(item.text)
            clean, kinds = redact(text)
            redacted.append((clean, kinds))
            head_text = clean[:MODEL_CHARS]
            language = detect_language(head_text)
            languages.append(language)
            readable = language in MODEL_LANGUAGES and not looks_binary(head_text)
            model_texts.append(_CONTROL.sub(" ", head_text).strip() if readable else "")

        readable_rows = [i for i, t in enumerate(model_texts) if t]
        embeddings = np.zeros((len(inputs), EMBEDDING_DIM), dtype=np.float32)
        sentiments = [NEUTRAL_EMPTY] * len(inputs)
        if readable_rows:
            texts = [model_texts[i] for i in readable_rows]
            encoded = self._encoder.encode_full(texts)
            embeddings[readable_rows] = encoded.embeddings
            if self._vader is not None:
                tags = self._vader.tag(texts)
            elif encoded.sentiment_logits is not None:
                tags = tags_from_probabilities(softmax(encoded.sentiment_logits))
            else:
                assert self._head is not None  # checked in __init__
                tags = self._head.tag(encoded.embeddings)
            for row, tag in zip(readable_rows, tags, strict=True):
                sentiments[row] = tag

        stages = self._stages.classify(
            [StageQuery(t, item.provider, item.metadata) for t, item in zip(model_texts, inputs, strict=True)],
            embeddings,
        )
        results = []
        for i, (text, kinds) in enumerate(redacted):
            phrase_text = _CONTROL.sub(" ", text[:MODEL_CHARS]) if languages[i] != UNDETERMINED else model_texts[i]
            results.append(
                Analysis(
                    sentiment=sentiments[i],
                    stage=stages[i],
                    language=languages[i],
                    key_phrases=extract_key_phrases(phrase_text, languages[i]),
                    redacted_text=text,
                    redactions=kinds,
                )
            )
        return results
