"""Three-way sentiment: tags from class probabilities, and the small linear fallback head stored as JSON.

The service's sentiment normally comes from the fine-tuned encoder's own head (``encoder.OnnxEncoder``);
``SentimentHead`` is the linear softmax head over stock MiniLM embeddings used when that model has not
been built, reproducible with ``python -m services.nlp.models.train_sentiment``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.nlp.models.encoder import EMBEDDING_DIM, Embeddings
from shared.contracts.feedback import SentimentLabel, SentimentTag

HEAD_PATH = Path(__file__).resolve().parent / "artifacts" / "sentiment_head.json"
CLASSES: tuple[SentimentLabel, ...] = (
    SentimentLabel.NEGATIVE,
    SentimentLabel.NEUTRAL,
    SentimentLabel.POSITIVE,
)

NEUTRAL_EMPTY = SentimentTag(label=SentimentLabel.NEUTRAL, score=0.0, confidence=0.0)
"""The "unknown" tag: for a text with nothing to read, binary junk, or a language the model does not read:
neutral, score 0, and no confidence in it."""


class HeadFormatError(ValueError):
    """A sentiment head file that does not hold a usable 3 x 384 linear head."""


@dataclass(frozen=True, eq=False)
class SentimentHead:
    """Linear softmax head over embeddings: ``p = softmax(E @ weights.T + bias)``.

    ``weights`` is ``[3, 384]`` and ``bias`` ``[3]``, classes in ``CLASSES`` order.
    ``version`` is the first 8 hex digits of the head file's SHA-256.
    """

    weights: npt.NDArray[np.float32]
    bias: npt.NDArray[np.float32]
    version: str
    info: dict[str, Any]

    @classmethod
    def load(cls, path: Path = HEAD_PATH) -> SentimentHead:
        """Read a head written by ``train_sentiment``; raises ``HeadFormatError`` when unusable."""
        raw = path.read_bytes()
        try:
            doc = json.loads(raw)
            classes = tuple(doc["classes"])
            weights = np.asarray(doc["weights"], dtype=np.float32)
            bias = np.asarray(doc["bias"], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise HeadFormatError(f"{path}: not a sentiment head: {exc}") from exc
        if classes != tuple(c.value for c in CLASSES):
            raise HeadFormatError(f"{path}: classes {classes} are not {[c.value for c in CLASSES]}")
        if weights.shape != (len(CLASSES), EMBEDDING_DIM) or bias.shape != (len(CLASSES),):
            raise HeadFormatError(f"{path}: weights {weights.shape} / bias {bias.shape} have the wrong shape")
        info = {k: v for k, v in doc.items() if k not in {"classes", "weights", "bias"}}
        return cls(weights, bias, hashlib.sha256(raw).hexdigest()[:8], info)

    def probabilities(self, embeddings: Embeddings) -> npt.NDArray[np.float32]:
        """Class probabilities ``[n, 3]`` (negative, neutral, positive) for ``[n, 384]`` embeddings."""
        return softmax((embeddings @ self.weights.T + self.bias).astype(np.float32))

    def tag(self, embeddings: Embeddings) -> list[SentimentTag]:
        """One ``SentimentTag`` per row: the most probable label, score ``p(pos) - p(neg)``."""
        return tags_from_probabilities(self.probabilities(embeddings))


def softmax(logits: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Row-wise softmax of ``[n, 3]`` logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probs: npt.NDArray[np.float32] = (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)
    return probs


def tags_from_probabilities(probabilities: npt.NDArray[np.float32]) -> list[SentimentTag]:
    """One tag per row of ``[n, 3]`` probabilities: the most probable label, its probability as confidence,
    and score ``p(positive) - p(negative)`` in [-1, 1]."""
    tags = []
    for row in probabilities:
        best = int(row.argmax())
        score = float(np.clip(row[2] - row[0], -1.0, 1.0))
        tags.append(SentimentTag(label=CLASSES[best], score=score, confidence=min(1.0, max(0.0, float(row[best])))))
    return tags
