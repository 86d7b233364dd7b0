"""Labelled feedback of other companies, embedded, for the stage tagger's nearest-neighbour evidence.

A journey map says what each stage is about in the company's own few words; customers describe the
same topics in many other ways ("the verification code never arrives" is about signing in). The
project's tuning items — feedback of several invented companies, each labelled with a stage of its
own company's map or with "no stage" — carry that knowledge across domains. ``NeighbourBank`` holds
their embeddings, and for each item the centroid of its stage in *its own* map. The stage classifier
matches a text's nearest bank items, and carries each item's label over to the loaded map through
the similarity of the two stages (``StageClassifier``, feature ``neighbours``); the nearest "no
stage" item is evidence for "none" (off-topic chatter reads alike across companies).

Only ``eval_data/tuning/`` goes into the bank, never ``eval_data/heldout/``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from services.nlp.models.encoder import EMBEDDING_DIM, Embeddings
from services.nlp.models.journey_sets import JourneySet, Split, load_sets

Vectors = npt.NDArray[np.float64]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NeighbourBank:
    """Embedded labelled items of several companies.

    ``vectors`` ``[m, 384]`` are the items that have a stage, ``stage_centroids`` ``[m, 384]`` the
    centroid of each one's stage in its company's map (``stage_centroids`` of ``stage.py``);
    ``none_vectors`` ``[k, 384]`` the items about no stage. ``companies`` and ``none_companies`` name
    each row's company, so a bank can leave a company out (``without``) for fitting.
    """

    vectors: Vectors
    stage_centroids: Vectors
    companies: tuple[str, ...]
    none_vectors: Vectors
    none_companies: tuple[str, ...]

    @classmethod
    def empty(cls) -> NeighbourBank:
        """A bank with no items: its features are zero."""
        nothing = np.zeros((0, EMBEDDING_DIM))
        return cls(nothing, nothing, (), nothing, ())

    @classmethod
    def from_sets(
        cls,
        sets: Sequence[JourneySet],
        encode: Callable[[Sequence[str]], Embeddings],
        centroids: Callable[[JourneySet], Vectors],
    ) -> NeighbourBank:
        """Embed every item of ``sets`` (one ``encode`` call); ``centroids`` gives a set's stage centroids."""
        texts = [item.text for s in sets for item in s.items]
        if not texts:
            return cls.empty()
        embedded = encode(texts).astype(np.float64)
        vectors: list[Vectors] = []
        stage_centroids: list[Vectors] = []
        companies: list[str] = []
        none_vectors: list[Vectors] = []
        none_companies: list[str] = []
        row = 0
        for journey_set in sets:
            own = centroids(journey_set)
            ids = journey_set.journey_map.stage_ids()
            for item in journey_set.items:
                if item.stage is None:
                    none_vectors.append(embedded[row])
                    none_companies.append(journey_set.company)
                else:
                    vectors.append(embedded[row])
                    stage_centroids.append(own[ids.index(item.stage)])
                    companies.append(journey_set.company)
                row += 1
        return cls(
            _stack(vectors), _stack(stage_centroids), tuple(companies), _stack(none_vectors), tuple(none_companies)
        )

    def without(self, *left_out: str) -> NeighbourBank:
        """The same bank less every item of the companies ``left_out``."""
        keep = np.asarray([c not in left_out for c in self.companies], dtype=bool)
        keep_none = np.asarray([c not in left_out for c in self.none_companies], dtype=bool)
        return NeighbourBank(
            self.vectors[keep] if len(keep) else self.vectors,
            self.stage_centroids[keep] if len(keep) else self.stage_centroids,
            tuple(c for c in self.companies if c not in left_out),
            self.none_vectors[keep_none] if len(keep_none) else self.none_vectors,
            tuple(c for c in self.none_companies if c not in left_out),
        )

    def __len__(self) -> int:
        return len(self.companies) + len(self.none_companies)


def _stack(rows: list[Vectors]) -> Vectors:
    return np.stack(rows) if rows else np.zeros((0, EMBEDDING_DIM))


@lru_cache(maxsize=4)
def tuning_bank(encode: Callable[[Sequence[str]], Embeddings]) -> NeighbourBank:
    """The bank of every tuning company's items, embedded with ``encode`` (kept per encoder)."""
    from services.nlp.models.stage import stage_centroids

    sets = load_sets(Split.TUNING)
    if not sets:
        # The scorer was fitted with neighbours; without them stages are still tagged, less accurately.
        log.warning("no tuning journey sets found; stage tagging runs without its neighbour bank")
    return NeighbourBank.from_sets(sets, encode, lambda s: stage_centroids(s.journey_map, encode))
