"""Journey-stage tagging against whatever journey map is loaded: source hints, keywords, then embeddings."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from services.nlp.models.encoder import Embeddings
from shared.contracts.feedback import StageCandidate, StageMethod, StageTag
from shared.contracts.journey_map import JourneyMap, SourceHint

MIN_SIMILARITY = 0.22
"""Below this best-stage similarity the text is about no stage of the map."""
TEMPERATURE = 0.04
"""Softmax temperature over stage similarities; cosine gaps of ~0.1 already mean a clear winner."""
MAX_WEIGHT = 0.4
"""Stage score = MAX_WEIGHT * best example similarity + (1 - MAX_WEIGHT) * centroid similarity."""
KEYWORD_DOMINANCE = 2.0
"""With keywords of several stages present, the top stage needs this many times the runner-up's hits."""
ALTERNATIVES = 3

NO_STAGE = StageTag(id=None, confidence=0.0, method=StageMethod.NONE, alternatives=[])
"""The tag for an item nothing places on the journey."""


@dataclass(frozen=True)
class StageQuery:
    """What the classifier knows about one item: its text (for keywords) and its origin (for hints)."""

    text: str
    provider: str | None = None
    metadata: Mapping[str, Any] | None = None


def _keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    words = sorted({k.strip().lower() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _hint_matches(hint: SourceHint, origin: Mapping[str, Any]) -> bool:
    return all(key in origin and origin[key] == value for key, value in hint.match.items())


class StageClassifier:
    """Tags items with a stage of one journey map.

    Order of evidence: (1) a source hint whose ``match`` equals the item's
    ``{"provider": ..., **metadata}`` on every key (confidence 1.0); (2) stage keywords,
    whole-word and case-insensitive, when one stage's keywords hit alone or dominate;
    (3) cosine similarity of the text embedding to each stage's prototypes (name and
    description, and each example phrase), softmaxed into confidences; below
    ``MIN_SIMILARITY`` the item gets no stage. ``alternatives`` always lists the next
    three stages by model confidence; when a hint or keywords decided, they share what
    the chosen stage's confidence leaves.
    """

    def __init__(self, journey_map: JourneyMap, encode: Callable[[Sequence[str]], Embeddings]) -> None:
        """Embed the map's stage prototypes with ``encode`` (one call for the whole map)."""
        self.journey_map = journey_map
        self._stage_ids = journey_map.stage_ids()
        self._keywords = [_keyword_pattern(stage.keywords) for stage in journey_map.stages]

        texts: list[str] = []
        owner: list[int] = []
        for index, stage in enumerate(journey_map.stages):
            summary = f"{stage.name}. {stage.description}".strip()
            for text in (summary, *stage.examples):
                if text.strip():
                    texts.append(text)
                    owner.append(index)
        vectors = encode(texts)
        self._prototypes = vectors
        self._prototype_owner = np.asarray(owner, dtype=np.int64)
        centroids = np.zeros((len(self._stage_ids), vectors.shape[1]), dtype=np.float32)
        for index in range(len(self._stage_ids)):
            rows = vectors[self._prototype_owner == index]
            if len(rows):
                mean = rows.mean(axis=0)
                centroids[index] = mean / max(float(np.linalg.norm(mean)), 1e-9)
        self._centroids = centroids

    def similarities(self, embeddings: Embeddings) -> npt.NDArray[np.float32]:
        """Per-stage similarity ``[n, stages]``: a blend of best-example and centroid cosine."""
        if len(embeddings) == 0:
            return np.zeros((0, len(self._stage_ids)), dtype=np.float32)
        per_prototype = embeddings @ self._prototypes.T
        best = np.full((len(embeddings), len(self._stage_ids)), -1.0, dtype=np.float32)
        for index in range(len(self._stage_ids)):
            columns = per_prototype[:, self._prototype_owner == index]
            if columns.shape[1]:
                best[:, index] = columns.max(axis=1)
        blended: npt.NDArray[np.float32] = (
            MAX_WEIGHT * best + (1 - MAX_WEIGHT) * (embeddings @ self._centroids.T)
        ).astype(np.float32)
        return blended

    def classify(self, queries: Sequence[StageQuery], embeddings: Embeddings) -> list[StageTag]:
        """One ``StageTag`` per query; ``embeddings`` rows align with ``queries``.

        A query whose text is blank is placed by source hints only; its embedding row is ignored.
        """
        if len(embeddings) != len(queries):
            raise ValueError(f"{len(queries)} queries but {len(embeddings)} embeddings")
        sims = self.similarities(embeddings)
        return [self._classify_one(q, sims[i] if q.text.strip() else None) for i, q in enumerate(queries)]

    def _classify_one(self, query: StageQuery, similarity: npt.NDArray[np.float32] | None) -> StageTag:
        confidences = self._softmax(similarity) if similarity is not None else None

        hinted = self._source_hint(query)
        if hinted is not None:
            return self._tag(hinted, 1.0, StageMethod.SOURCE_HINT, confidences)
        if similarity is None or confidences is None:
            return NO_STAGE

        keyword_stage, keyword_confidence = self._keyword_stage(query.text)
        if keyword_stage is not None:
            return self._tag(keyword_stage, keyword_confidence, StageMethod.KEYWORD, confidences)

        best = int(similarity.argmax())
        if float(similarity[best]) < MIN_SIMILARITY:
            return self._tag(None, 0.0, StageMethod.NONE, confidences)
        return self._tag(best, float(confidences[best]), StageMethod.MODEL, confidences)

    def _source_hint(self, query: StageQuery) -> int | None:
        origin: dict[str, Any] = {"provider": query.provider, **(query.metadata or {})}
        for hint in self.journey_map.sources:
            if _hint_matches(hint, origin):
                return self._stage_ids.index(hint.stage)
        return None

    def _keyword_stage(self, text: str) -> tuple[int | None, float]:
        hits = np.zeros(len(self._stage_ids))
        for index, pattern in enumerate(self._keywords):
            if pattern is not None:
                hits[index] = len({m.group().lower() for m in pattern.finditer(text)})
        total = float(hits.sum())
        if total == 0:
            return None, 0.0
        order = np.argsort(-hits, kind="stable")
        top = float(hits[order[0]])
        runner_up = float(hits[order[1]]) if len(order) > 1 else 0.0
        if runner_up and top < KEYWORD_DOMINANCE * runner_up:
            return None, 0.0
        # Keywords are strong but not certain evidence: 0.95 when alone, less when other stages also hit.
        return int(order[0]), round(0.6 + 0.35 * top / total, 4)

    def _softmax(self, similarity: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        logits = similarity.astype(np.float64) / TEMPERATURE
        exp = np.exp(logits - logits.max())
        result: npt.NDArray[np.float64] = exp / exp.sum()
        return result

    def _tag(
        self,
        chosen: int | None,
        confidence: float,
        method: StageMethod,
        confidences: npt.NDArray[np.float64] | None,
    ) -> StageTag:
        alternatives: list[StageCandidate] = []
        if confidences is not None:
            shares = confidences
            if chosen is not None and method is not StageMethod.MODEL:
                # A hint or keyword overrode the model: the runners-up split what confidence is left.
                rest = float(confidences.sum() - confidences[chosen])
                shares = confidences * ((1.0 - confidence) / rest if rest > 0 else 0.0)
            ranked = [int(i) for i in np.argsort(-confidences, kind="stable") if int(i) != chosen]
            alternatives = [
                StageCandidate(id=self._stage_ids[i], confidence=round(min(1.0, float(shares[i])), 4))
                for i in ranked[:ALTERNATIVES]
            ]
        return StageTag(
            id=None if chosen is None else self._stage_ids[chosen],
            confidence=round(min(1.0, max(0.0, confidence)), 4),
            method=method,
            alternatives=alternatives,
        )
