"""Fit the journey-stage scorer on the tuning companies and write ``artifacts/stage_scorer.json``.

Usage::

    python -m services.nlp.models.train_stage --out services/nlp/models/artifacts/stage_scorer.json

Reads only ``eval_data/tuning/`` and the maps (never ``eval_data/heldout/``). Features come from the
stock all-MiniLM-L6-v2 embeddings: the fine-tuned encoder is distilled to keep them (cosine > 0.99),
so the scorer fits either. Prints leave-one-company-out accuracy, the figure that tells how the
scorer does on a company it has not seen. Deterministic; well under a minute on two cores.

The ``neighbours`` feature and the evidence read a bank of labelled tuning items
(``neighbours.NeighbourBank``). A company's own items are never in the bank its features are computed
with, so the scorer learns how much to trust neighbours from *other* companies, as it will get them for
a new map; in leave-one-company-out the left-out company is also taken out of every other company's bank.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from services.nlp.models.encoder import Embeddings, TorchEncoder
from services.nlp.models.journey_sets import JourneySet, Split, load_sets
from services.nlp.models.neighbours import NeighbourBank
from services.nlp.models.stage import (
    EVIDENCE,
    FEATURES,
    NEIGHBOUR_TEMPERATURE,
    NEIGHBOURS,
    SCORER_PATH,
    TRANSFER_TEMPERATURE,
    StageClassifier,
    StageScorer,
    none_input_size,
    none_inputs,
    stage_centroids,
    stage_input_size,
    stage_inputs,
)

L2 = 1e-3
SEED = 20261002


@dataclass(frozen=True)
class Fitted:
    """One company's features, evidence and gold option indices (``stages`` means "none")."""

    company: str
    features: npt.NDArray[np.float64]
    evidence: npt.NDArray[np.float64]
    gold: npt.NDArray[np.int64]


class MemoEncoder:
    """An encoder's ``encode`` that embeds each distinct text once (features are computed many times)."""

    def __init__(self, encoder: TorchEncoder) -> None:
        self._encoder = encoder
        self._memo: dict[str, npt.NDArray[np.float32]] = {}

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Embeddings ``[n, 384]`` of ``texts``."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._memo))
        if missing:
            for text, row in zip(missing, self._encoder.encode(missing), strict=True):
                self._memo[text] = row
        if not texts:
            return np.zeros((0, self._encoder.dim), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts])


def company_features(
    sets: Sequence[JourneySet], encoder: MemoEncoder, bank: NeighbourBank, *, left_out: Sequence[str] = ()
) -> list[Fitted]:
    """Features of every item against its own company's map, with gold indices.

    Each company's features read ``bank`` without that company's items and without ``left_out``'s.
    """
    placeholder = StageScorer(np.zeros(stage_input_size()), np.zeros(none_input_size()), "none", {})
    fitted = []
    for journey_set in sets:
        own_bank = bank.without(journey_set.company, *left_out)
        classifier = StageClassifier(journey_set.journey_map, encoder.encode, placeholder, own_bank)
        texts = [item.text for item in journey_set.items]
        embeddings = encoder.encode(texts)
        features = classifier.features(texts, embeddings)
        ids = classifier.stage_ids
        gold = np.asarray([ids.index(i.stage) if i.stage else len(ids) for i in journey_set.items], dtype=np.int64)
        fitted.append(Fitted(journey_set.company, features, classifier.evidence(embeddings), gold))
    return fitted


def build_bank(sets: Sequence[JourneySet], encoder: MemoEncoder) -> NeighbourBank:
    """The bank of every item of ``sets``, as the service builds it from the tuning split."""
    return NeighbourBank.from_sets(sets, encoder.encode, lambda s: stage_centroids(s.journey_map, encoder.encode))


def fit(companies: Sequence[Fitted], *, l2: float = L2) -> StageScorer:
    """Conditional logit over each item's stages plus "none", L2-regularised, full-batch L-BFGS."""
    import torch

    torch.manual_seed(SEED)
    stage_w = torch.zeros(stage_input_size(), dtype=torch.float64, requires_grad=True)
    none_w = torch.zeros(none_input_size(), dtype=torch.float64, requires_grad=True)
    batches = [
        (
            torch.from_numpy(stage_inputs(c.features)),
            torch.from_numpy(none_inputs(c.features, c.evidence)),
            torch.from_numpy(c.gold),
        )
        for c in companies
    ]
    total = sum(len(c.gold) for c in companies)
    optimizer = torch.optim.LBFGS([stage_w, none_w], max_iter=500, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = torch.zeros((), dtype=torch.float64)
        for stage_x, none_x, gold in batches:
            scores = torch.cat([stage_x @ stage_w, (none_x @ none_w)[:, None]], dim=1)
            loss = loss + torch.nn.functional.cross_entropy(scores, gold, reduction="sum")
        # The "none" bias is left free: how often nothing fits is a property of the data, not noise.
        loss = loss / total + l2 * (stage_w.pow(2).sum() + none_w[1:].pow(2).sum())
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    return StageScorer(stage_w.detach().numpy().copy(), none_w.detach().numpy().copy(), "fitted", {})


def accuracy(scorer: StageScorer, company: Fitted) -> float:
    """Share of the company's items whose best option is the gold one."""
    return float(np.mean(scorer.scores(company.features, company.evidence).argmax(axis=1) == company.gold))


def leave_one_company_out(
    sets: Sequence[JourneySet], encoder: MemoEncoder, bank: NeighbourBank
) -> dict[str, tuple[float, int]]:
    """Accuracy and item count on each company, the scorer fitted on the others with that company in no bank."""
    result = {}
    for held in sets:
        others = [s for s in sets if s.company != held.company]
        scorer = fit(company_features(others, encoder, bank, left_out=[held.company]))
        [held_features] = company_features([held], encoder, bank)
        result[held.company] = (accuracy(scorer, held_features), len(held.items))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Fit on every tuning company, report leave-one-company-out accuracy, write the scorer JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--out", type=Path, default=SCORER_PATH, help="where to write stage_scorer.json")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--loco-only", action="store_true",
                        help="print leave-one-company-out accuracy and write nothing")
    parser.add_argument("--encoder-path", type=Path,
                        help="compare another mean-pooled sentence model (a directory that AutoModel loads, with "
                        "tokenizer.json) in place of the stock MiniLM; needs --loco-only, since the service "
                        "reads MiniLM embeddings")
    args = parser.parse_args(argv)
    if args.encoder_path is not None and not args.loco_only:
        parser.error("--encoder-path needs --loco-only: a scorer fitted on another encoder does not fit the service's")

    stock = TorchEncoder.stock(args.encoder_path, threads=args.threads)
    encoder = MemoEncoder(stock)
    sets = load_sets(Split.TUNING)
    bank = build_bank(sets, encoder)
    loco = leave_one_company_out(sets, encoder, bank)
    items = sum(n for _, n in loco.values())
    weighted = sum(a * n for a, n in loco.values()) / items
    if args.loco_only:
        for company, (value, n) in loco.items():
            _say(f"leave-one-company-out accuracy, {company} ({n} items): {value:.3f}")
        _say(f"encoder {stock.name} ({stock.dim}-d): mean {np.mean([a for a, _ in loco.values()]):.3f}, "
             f"items-weighted {weighted:.3f}")
        return 0
    companies = company_features(sets, encoder, bank)
    scorer = fit(companies)
    in_sample = float(
        np.mean(np.concatenate([scorer.scores(c.features, c.evidence).argmax(axis=1) == c.gold for c in companies]))
    )
    doc = {
        "features": list(FEATURES),
        "evidence": list(EVIDENCE),
        "stage_weights": np.round(scorer.stage_weights, 6).tolist(),
        "none_weights": np.round(scorer.none_weights, 6).tolist(),
        "training": {
            "tuning_companies": {s.company: len(s.items) for s in sets},
            "encoder": "sentence-transformers/all-MiniLM-L6-v2 (stock, mean pooling, L2-normalised)",
            "l2": L2,
            "seed": SEED,
            "neighbours": NEIGHBOURS,
            "neighbour_temperature": NEIGHBOUR_TEMPERATURE,
            "transfer_temperature": TRANSFER_TEMPERATURE,
        },
        "evaluation": {
            "leave_one_company_out_accuracy": {k: round(a, 4) for k, (a, _) in loco.items()},
            "leave_one_company_out_mean": round(float(np.mean([a for a, _ in loco.values()])), 4),
            "leave_one_company_out_items_weighted": round(weighted, 4),
            "in_sample_accuracy": round(in_sample, 4),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    for company, (value, n) in loco.items():
        _say(f"leave-one-company-out accuracy, {company} ({n} items): {value:.3f}")
    mean = np.mean([a for a, _ in loco.values()])
    _say(f"mean {mean:.3f}, items-weighted {weighted:.3f}; in-sample {in_sample:.3f}; wrote {args.out}")
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
