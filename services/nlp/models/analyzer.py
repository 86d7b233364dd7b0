"""The NLP models behind one call: redact, embed once, then tag sentiment, stage, language, key phrases."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from services.nlp.models.encoder import EMBEDDING_DIM, TextEncoder
from services.nlp.models.keyphrases import extract_key_phrases
from services.nlp.models.language import detect_language
from services.nlp.models.pii import redact
from services.nlp.models.sentiment import NEUTRAL_EMPTY, SentimentHead
from services.nlp.models.stage import StageClassifier, StageQuery
from shared.contracts.feedback import SentimentTag, StageTag
from shared.contracts.journey_map import JourneyMap

MODEL_CHARS = 5000
"""Only this many leading characters of a text reach the models (256 tokens is far less anyway)."""

# Control characters other than tab and newline: noise for the tokenizer, common in binary junk.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffd]+")


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

    ``analyze`` never raises for odd input: empty text is neutral with zero confidence and no
    stage (unless a source hint places it), huge text is cut to 5,000 characters for the
    models, binary-looking text is analysed as text with language ``"und"``.
    """

    def __init__(self, encoder: TextEncoder, head: SentimentHead, stages: StageClassifier) -> None:
        self._encoder = encoder
        self._head = head
        self._stages = stages
        self.journey_map: JourneyMap = stages.journey_map
        self.model_version = f"{encoder.name}+sent-head-{head.version}"

    @property
    def encoder(self) -> TextEncoder:
        """The loaded sentence encoder (shared by analyzers made with ``with_journey_map``)."""
        return self._encoder

    @classmethod
    def load(cls, journey_map: JourneyMap, *, threads: int | None = None) -> Analyzer:
        """Load the encoder and sentiment head from the installed package and embed the map's stages."""
        encoder = TextEncoder.load(threads=threads)
        return cls(encoder, SentimentHead.load(), StageClassifier(journey_map, encoder.encode))

    def with_journey_map(self, journey_map: JourneyMap) -> Analyzer:
        """A new analyzer for ``journey_map`` sharing this one's encoder and head; re-embeds only stages."""
        return Analyzer(self._encoder, self._head, StageClassifier(journey_map, self._encoder.encode))

    def analyze(self, inputs: Sequence[TextInput]) -> list[Analysis]:
        """Analyse ``inputs`` in order, with a single encoder pass over all texts that have words."""
        redacted: list[tuple[str, list[str]]] = []
        model_texts: list[str] = []
        for item in inputs:
            text = item.text if isinstance(item.text, str) else str(item.text)
            redacted.append(redact(text))
            model_texts.append(_CONTROL.sub(" ", redacted[-1][0][:MODEL_CHARS]).strip())

        with_text = [i for i, t in enumerate(model_texts) if t]
        embeddings = np.zeros((len(inputs), EMBEDDING_DIM), dtype=np.float32)
        if with_text:
            embeddings[with_text] = self._encoder.encode([model_texts[i] for i in with_text])

        sentiments = [NEUTRAL_EMPTY] * len(inputs)
        for i, tag in zip(with_text, self._head.tag(embeddings[with_text]), strict=True):
            sentiments[i] = tag
        stages = self._stages.classify(
            [StageQuery(t, item.provider, item.metadata) for t, item in zip(model_texts, inputs, strict=True)],
            embeddings,
        )

        results = []
        for i, (text, kinds) in enumerate(redacted):
            language = detect_language(text[:MODEL_CHARS])
            results.append(
                Analysis(
                    sentiment=sentiments[i],
                    stage=stages[i],
                    language=language,
                    key_phrases=extract_key_phrases(model_texts[i], language),
                    redacted_text=text,
                    redactions=kinds,
                )
            )
        return results
