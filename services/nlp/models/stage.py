"""Journey-stage tagging against whatever journey map is loaded: source hints, then a learned scorer.

Nothing about stages is hard-coded. For each stage of the loaded map the classifier builds
prototypes from the map's own words (the name, name + description, each example phrase, and each
clause of the description) and a bag of content words; for each text and stage it computes eight
map-agnostic features:

====================  ==========================================================================
``name``              cosine of the text to the stage name
``summary``           cosine to "name. description"
``example``           best cosine to one example phrase (``summary`` when there are none)
``clause``            best cosine to one description clause ("Billing: refunds") (or ``summary``)
``centroid``          cosine to the mean of summary and examples
``keywords``          distinct keyword hits, whole-word and case-insensitive, capped at 2
``lexical``           IDF-weighted overlap of stemmed content words with the stage's words
``neighbours``        the vote of the text's ten nearest labelled items of other companies
                      (``neighbours.NeighbourBank``), each item's label carried over to this map's
                      stages by how close its own stage's centroid is to each of them
====================  ==========================================================================

and two pieces of evidence about the text as a whole (``EVIDENCE``): its best cosine to a bank item
about no stage (off-topic chatter), and to any bank item with a stage.

A conditional-logit scorer (``artifacts/stage_scorer.json``, trained by ``train_stage`` on the
tuning companies only) turns them into one score per stage, from the raw features, the features
standardised across the map's stages, and the keyword hits; a "none" option scores from the best
value of each feature and the evidence. A softmax over the stages and "none" gives the confidences.
Because the weights apply to similarities rather than to stage identities, a new map retags new
items at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from services.nlp.models.encoder import Embeddings
from services.nlp.models.neighbours import NeighbourBank, tuning_bank
from services.nlp.models.stopwords import STOPWORDS
from shared.contracts.feedback import StageCandidate, StageMethod, StageTag
from shared.contracts.journey_map import JourneyMap, SourceHint, Stage

SCORER_PATH = Path(__file__).resolve().parent / "artifacts" / "stage_scorer.json"
FEATURES = ("name", "summary", "example", "clause", "centroid", "keywords", "lexical", "neighbours")
CONTINUOUS = (0, 1, 2, 3, 4, 6, 7)
"""Indices of the features that are also standardised across stages (all but the keyword count)."""
KEYWORD = FEATURES.index("keywords")
EVIDENCE = ("nearest_none", "nearest_item")
"""Per-text inputs of the "none" option: best cosine to a bank item about no stage, and to any with a stage."""
NEIGHBOURS = 10
"""How many nearest bank items vote."""
NEIGHBOUR_TEMPERATURE = 0.05
"""Softmax temperature over the voters' cosines to the text."""
TRANSFER_TEMPERATURE = 0.05
"""Softmax temperature over the map's stages of a voter's stage-centroid cosines: how sharply a label carries over."""
KEYWORD_CAP = 2
KEYWORD_DOMINANCE = 2.0
"""The method is reported as ``keyword`` when the chosen stage has this many times the next stage's hits."""
ALTERNATIVES = 3

NO_STAGE = StageTag(id=None, confidence=0.0, method=StageMethod.NONE, alternatives=[])
"""The tag for an item nothing places on the journey."""

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CLAUSE_BREAK = re.compile(r"[,;:.()]|\band\b|\bor\b", re.IGNORECASE)
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ied", "ers", "er", "ed", "es", "s", "ly")
_FILLER = frozenset(
    """
    really actually please thanks thank like just lot much many even us way thing things one would could also
    still get got make made every always never ever quite pretty bit maybe etc ok yes hi hello
    """.split()
)
_STOP = STOPWORDS["en"] | _FILLER


class ScorerFormatError(ValueError):
    """A stage scorer file that does not hold usable weights."""


@dataclass(frozen=True)
class StageQuery:
    """What the classifier knows about one item: its text (for keywords) and its origin (for hints)."""

    text: str
    provider: str | None = None
    metadata: Mapping[str, Any] | None = None


@dataclass(frozen=True, eq=False)
class StageScorer:
    """Weights of the conditional-logit stage scorer.

    ``stage_weights`` apply to ``stage_inputs(features)`` (raw continuous features, the same standardised
    across stages, keyword hits, any keyword hit); ``none_weights`` to ``none_inputs(features, evidence)``
    (a bias, each feature's best value over the stages, then the ``EVIDENCE`` values).
    """

    stage_weights: npt.NDArray[np.float64]
    none_weights: npt.NDArray[np.float64]
    version: str
    info: dict[str, Any]

    @classmethod
    def load(cls, path: Path = SCORER_PATH) -> StageScorer:
        """Read a scorer written by ``train_stage``; raises ``ScorerFormatError`` when unusable."""
        raw = path.read_bytes()
        try:
            doc = json.loads(raw)
            features = tuple(doc["features"])
            evidence = tuple(doc["evidence"])
            stage_weights = np.asarray(doc["stage_weights"], dtype=np.float64)
            none_weights = np.asarray(doc["none_weights"], dtype=np.float64)
        except (ValueError, KeyError, TypeError) as exc:
            raise ScorerFormatError(f"{path}: not a stage scorer: {exc}") from exc
        if features != FEATURES or evidence != EVIDENCE:
            raise ScorerFormatError(f"{path}: features {features + evidence} are not {FEATURES + EVIDENCE}")
        if stage_weights.shape != (stage_input_size(),) or none_weights.shape != (none_input_size(),):
            shapes = f"{stage_weights.shape} / {none_weights.shape}"
            raise ScorerFormatError(f"{path}: weights {shapes} have the wrong shape")
        info = {k: v for k, v in doc.items() if k not in {"features", "evidence", "stage_weights", "none_weights"}}
        return cls(stage_weights, none_weights, hashlib.sha256(raw).hexdigest()[:8], info)

    def scores(self, features: npt.NDArray[np.float64], evidence: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Scores ``[n, stages + 1]`` for features ``[n, stages, 8]``, evidence ``[n, 2]``; the last is "none"."""
        stage = stage_inputs(features) @ self.stage_weights
        none = none_inputs(features, evidence) @ self.none_weights
        result: npt.NDArray[np.float64] = np.concatenate([stage, none[:, None]], axis=1)
        return result


def stage_input_size() -> int:
    """Length of one stage's input vector to the scorer."""
    return 2 * len(CONTINUOUS) + 2


def none_input_size() -> int:
    """Length of the "none" option's input vector."""
    return 1 + len(FEATURES) + len(EVIDENCE)


def stage_inputs(features: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``[n, stages, 16]``: raw continuous features, the same standardised over the map's stages, hits, any hit."""
    continuous = features[..., list(CONTINUOUS)]
    spread = continuous.std(axis=1, keepdims=True) + 1e-6
    standardised = (continuous - continuous.mean(axis=1, keepdims=True)) / spread
    hits = features[..., KEYWORD : KEYWORD + 1]
    result: npt.NDArray[np.float64] = np.concatenate([continuous, standardised, hits, hits > 0], axis=-1)
    return result


def none_inputs(features: npt.NDArray[np.float64], evidence: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``[n, 11]``: a bias, each feature's best value over the stages, then the evidence."""
    best = features.max(axis=1)
    result: npt.NDArray[np.float64] = np.concatenate([np.ones((len(features), 1)), best, evidence], axis=1)
    return result


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A crude English stem: enough for "delayed"/"delay", "refunds"/"refund", "installer"/"installation"."""
    word = word.split("'")[0]
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2]:
        word = word[:-1]
    return word


def content_words(text: str) -> set[str]:
    """Stemmed words of ``text`` that are not stopwords, filler, numbers or shorter than three letters."""
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2 and not w.isdigit()}


def description_clauses(description: str) -> list[str]:
    """A description split at punctuation, "and" and "or" into the topics it lists."""
    return [part.strip() for part in _CLAUSE_BREAK.split(description) if len(part.strip()) > 2]


def _keyword_pattern(keywords: Sequence[str]) -> re.Pattern[str] | None:
    words = sorted({k.strip().lower() for k in keywords if k.strip()}, key=len, reverse=True)
    if not words:
        return None
    alternatives = "|".join(r"\s+".join(re.escape(part) for part in w.split()) for w in words)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def _hint_matches(hint: SourceHint, origin: Mapping[str, Any]) -> bool:
    return all(key in origin and origin[key] == value for key, value in hint.match.items())


def _prototypes(stage: Stage) -> list[tuple[str, str]]:
    summary = f"{stage.name}. {stage.description}".strip()
    items = [("name", stage.name), ("summary", summary)]
    items += [("example", e) for e in stage.examples if e.strip()]
    items += [("clause", f"{stage.name}: {c}") for c in description_clauses(stage.description)]
    return items


@dataclass(frozen=True)
class _EmbeddedPrototypes:
    vectors: npt.NDArray[np.float64]
    owners: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.str_]
    centroids: npt.NDArray[np.float64]


def _embed_prototypes(journey_map: JourneyMap, encode: Callable[[Sequence[str]], Embeddings]) -> _EmbeddedPrototypes:
    texts: list[str] = []
    owner: list[int] = []
    kinds: list[str] = []
    for index, stage in enumerate(journey_map.stages):
        for kind, text in _prototypes(stage):
            texts.append(text)
            owner.append(index)
            kinds.append(kind)
    vectors = encode(texts).astype(np.float64)
    owners = np.asarray(owner, dtype=np.int64)
    kind_of = np.asarray(kinds)
    centroids = np.zeros((len(journey_map.stages), vectors.shape[1]))
    for index in range(len(journey_map.stages)):
        mean = vectors[(owners == index) & np.isin(kind_of, ["summary", "example"])].mean(axis=0)
        centroids[index] = mean / max(float(np.linalg.norm(mean)), 1e-9)
    return _EmbeddedPrototypes(vectors, owners, kind_of, centroids)


def stage_centroids(journey_map: JourneyMap, encode: Callable[[Sequence[str]], Embeddings]) -> npt.NDArray[np.float64]:
    """``[stages, 384]``: each stage's L2-normalised mean of its summary and example embeddings."""
    return _embed_prototypes(journey_map, encode).centroids


class StageClassifier:
    """Tags items with a stage of one journey map.

    Order of evidence: (1) a source hint whose ``match`` equals the item's ``{"provider": ...,
    **metadata}`` on every key (confidence 1.0, method ``source_hint``); (2) the learned scorer over
    the eight features above. Its winner is reported with method ``keyword`` when the keywords alone
    point at it (its hits at least twice the next stage's), else ``model``; when "none" wins the item
    gets no stage. ``alternatives`` lists the next three stages by the scorer's confidence.
    """

    def __init__(
        self,
        journey_map: JourneyMap,
        encode: Callable[[Sequence[str]], Embeddings],
        scorer: StageScorer | None = None,
        bank: NeighbourBank | None = None,
    ) -> None:
        """Embed the map's stage prototypes with ``encode`` (one call for the whole map).

        ``bank`` holds the labelled items of other companies that vote (default: every tuning
        company's, embedded once per encoder with ``encode``).
        """
        self.journey_map = journey_map
        self.scorer = scorer or StageScorer.load()
        self.bank = tuning_bank(encode) if bank is None else bank
        self._stage_ids = journey_map.stage_ids()
        self._keywords = [_keyword_pattern(stage.keywords) for stage in journey_map.stages]

        embedded = _embed_prototypes(journey_map, encode)
        vectors, owners, kind_of = embedded.vectors, embedded.owners, embedded.kinds
        stages = len(self._stage_ids)
        # One boolean column selector per (feature, stage): which prototypes a "best cosine" feature reads.
        self._selectors: list[list[npt.NDArray[np.bool_]]] = []
        for feature in ("name", "summary", "example", "clause"):
            per_stage = []
            for index in range(stages):
                selected = (owners == index) & (kind_of == feature)
                per_stage.append(selected if selected.any() else (owners == index) & (kind_of == "summary"))
            self._selectors.append(per_stage)
        self._prototypes = vectors
        self._centroids = embedded.centroids
        # How each bank item's label carries over: a softmax over this map's stages of its stage's closeness.
        self._transfer = _softmax(self.bank.stage_centroids @ self._centroids.T / TRANSFER_TEMPERATURE)

        bags = [content_words(" ".join([s.name, s.description, *s.examples, *s.keywords])) for s in journey_map.stages]
        frequency: dict[str, int] = {}
        for bag in bags:
            for word in bag:
                frequency[word] = frequency.get(word, 0) + 1
        # Per word, its IDF in every stage whose bag holds it: a text's lexical feature is one vector sum.
        self._lexical: dict[str, npt.NDArray[np.float64]] = {}
        for word, count in frequency.items():
            idf = math.log((stages + 1) / (count + 0.5))
            self._lexical[word] = np.asarray([idf if word in bag else 0.0 for bag in bags])

    @property
    def stage_ids(self) -> list[str]:
        """The map's stage ids in journey order."""
        return list(self._stage_ids)

    def features(self, texts: Sequence[str], embeddings: Embeddings) -> npt.NDArray[np.float64]:
        """Features ``[n, stages, 8]`` (``FEATURES`` order) of ``texts`` against every stage."""
        n, stages = len(texts), len(self._stage_ids)
        result = np.zeros((n, stages, len(FEATURES)))
        if n == 0:
            return result
        x = embeddings.astype(np.float64)
        similarity = x @ self._prototypes.T
        for column, per_stage in enumerate(self._selectors):
            for index, selected in enumerate(per_stage):
                result[:, index, column] = similarity[:, selected].max(axis=1)
        result[:, :, FEATURES.index("centroid")] = x @ self._centroids.T
        result[:, :, FEATURES.index("neighbours")] = self._neighbour_votes(x)
        lexical = FEATURES.index("lexical")
        for row, text in enumerate(texts):
            for word in content_words(text):
                weights = self._lexical.get(word)
                if weights is not None:
                    result[row, :, lexical] += weights
            for index, pattern in enumerate(self._keywords):
                if pattern is not None:
                    hits = len({m.group().lower() for m in pattern.finditer(text)})
                    result[row, index, KEYWORD] = min(hits, KEYWORD_CAP)
        return result

    def _neighbour_votes(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """``[n, stages]``: the nearest bank items' labels, weighted by closeness, carried over to this map."""
        votes = np.zeros((len(x), len(self._stage_ids)))
        k = min(NEIGHBOURS, len(self.bank.vectors))
        if k == 0:
            return votes
        similarity = x @ self.bank.vectors.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = _softmax(np.take_along_axis(similarity, nearest, axis=1) / NEIGHBOUR_TEMPERATURE)
        result: npt.NDArray[np.float64] = np.einsum("nk,nks->ns", weights, self._transfer[nearest])
        return result

    def evidence(self, embeddings: Embeddings) -> npt.NDArray[np.float64]:
        """``[n, 2]`` (``EVIDENCE`` order): best cosine to a bank item about no stage, and to one with a stage."""
        x = embeddings.astype(np.float64)
        result = np.zeros((len(x), len(EVIDENCE)))
        for column, bank in enumerate((self.bank.none_vectors, self.bank.vectors)):
            if len(bank):
                result[:, column] = (x @ bank.T).max(axis=1)
        return result

    def classify(self, queries: Sequence[StageQuery], embeddings: Embeddings) -> list[StageTag]:
        """One ``StageTag`` per query; ``embeddings`` rows align with ``queries``.

        A query whose text is blank is placed by source hints only; its embedding row is ignored.
        """
        if len(embeddings) != len(queries):
            raise ValueError(f"{len(queries)} queries but {len(embeddings)} embeddings")
        with_text = [i for i, q in enumerate(queries) if q.text.strip()]
        probabilities: dict[int, npt.NDArray[np.float64]] = {}
        features: dict[int, npt.NDArray[np.float64]] = {}
        if with_text:
            computed = self.features([queries[i].text for i in with_text], embeddings[with_text])
            softmaxed = _softmax(self.scorer.scores(computed, self.evidence(embeddings[with_text])))
            for position, row in enumerate(with_text):
                probabilities[row] = softmaxed[position]
                features[row] = computed[position]
        return [self._classify_one(q, probabilities.get(i), features.get(i)) for i, q in enumerate(queries)]

    def _classify_one(
        self,
        query: StageQuery,
        probabilities: npt.NDArray[np.float64] | None,
        features: npt.NDArray[np.float64] | None,
    ) -> StageTag:
        stage_probs = probabilities[:-1] if probabilities is not None else None
        hinted = self._source_hint(query)
        if hinted is not None:
            return self._tag(hinted, 1.0, StageMethod.SOURCE_HINT, stage_probs)
        if probabilities is None or features is None or stage_probs is None:
            return NO_STAGE
        best = int(probabilities.argmax())
        if best == len(self._stage_ids):
            return self._tag(None, 0.0, StageMethod.NONE, stage_probs)
        hits = features[:, KEYWORD]
        others = float(np.delete(hits, best).max()) if len(hits) > 1 else 0.0
        by_keywords = hits[best] > 0 and hits[best] >= KEYWORD_DOMINANCE * others
        method = StageMethod.KEYWORD if by_keywords else StageMethod.MODEL
        return self._tag(best, float(probabilities[best]), method, stage_probs)

    def _source_hint(self, query: StageQuery) -> int | None:
        origin: dict[str, Any] = {"provider": query.provider, **(query.metadata or {})}
        for hint in self.journey_map.sources:
            if _hint_matches(hint, origin):
                return self._stage_ids.index(hint.stage)
        return None

    def _tag(
        self,
        chosen: int | None,
        confidence: float,
        method: StageMethod,
        probabilities: npt.NDArray[np.float64] | None,
    ) -> StageTag:
        alternatives: list[StageCandidate] = []
        if probabilities is not None:
            ranked = [int(i) for i in np.argsort(-probabilities, kind="stable") if int(i) != chosen]
            alternatives = [
                StageCandidate(id=self._stage_ids[i], confidence=round(min(1.0, float(probabilities[i])), 4))
                for i in ranked[:ALTERNATIVES]
            ]
        return StageTag(
            id=None if chosen is None else self._stage_ids[chosen],
            confidence=round(min(1.0, max(0.0, confidence)), 4),
            method=method,
            alternatives=alternatives,
        )


def _softmax(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return result
