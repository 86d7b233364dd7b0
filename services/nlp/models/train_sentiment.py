"""Train the linear fallback sentiment head: embed labelled texts with the stock encoder, fit softmax regression.

Usage::

    python -m services.nlp.models.train_sentiment --data /work/shared/data \\
        --out services/nlp/models/artifacts/sentiment_head.json

This head (3 x 384, committed) is what the service uses when the fine-tuned model has not been
built (``finetune``); it is also the head of the plain-loop baseline in ``bench/nlp_throughput.py``.
Training texts are ``corpora.training_corpus``; the last 4,000 TweetEval test lines are held out:
nothing is fitted or tuned on them, the script only reports on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from services.nlp.models.corpora import HELD_OUT_TWEETS, held_out_tweets, training_corpus
from services.nlp.models.encoder import TorchEncoder
from services.nlp.models.sentiment import CLASSES

SEED = 20261001
L2 = 3e-4
FEEDBACK_WEIGHT = 20.0
"""Each own customer-feedback example counts this many times: it is the only in-domain data."""


def fit_head(
    features: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    *,
    l2: float = L2,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Fit class-balanced, L2-regularised softmax regression with full-batch L-BFGS.

    Returns ``(weights [3, d], bias [3])``. Deterministic for the same inputs.
    """
    torch.manual_seed(SEED)
    x = torch.from_numpy(features)
    y = torch.from_numpy(labels)
    w = torch.from_numpy(weights)
    counts = torch.bincount(y, weights=w, minlength=len(CLASSES)).clamp(min=1e-6)
    # Balanced: each class carries the same total weight whatever its share of the data.
    sample_weight = w * (w.sum() / (len(CLASSES) * counts))[y]
    sample_weight = sample_weight / sample_weight.sum()

    linear = torch.nn.Linear(features.shape[1], len(CLASSES))
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    optimizer = torch.optim.LBFGS(
        linear.parameters(), lr=1.0, max_iter=500, history_size=20, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        losses = torch.nn.functional.cross_entropy(linear(x), y, reduction="none")
        loss = (losses * sample_weight).sum() + l2 * linear.weight.pow(2).sum()
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimizer.step(closure)  # type: ignore[no-untyped-call]
    with torch.no_grad():
        return linear.weight.numpy().copy(), linear.bias.numpy().copy()


def predict(
    features: npt.NDArray[np.float32], weights: npt.NDArray[np.float32], bias: npt.NDArray[np.float32]
) -> npt.NDArray[np.int64]:
    """Most probable class index per row."""
    result: npt.NDArray[np.int64] = np.argmax(features @ weights.T + bias, axis=1).astype(np.int64)
    return result


def macro_f1(truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.int64]) -> tuple[float, list[float]]:
    """Macro-averaged F1 over the three classes, and each class's F1."""
    per_class = []
    for c in range(len(CLASSES)):
        tp = float(np.sum((predicted == c) & (truth == c)))
        fp = float(np.sum((predicted == c) & (truth != c)))
        fn = float(np.sum((predicted != c) & (truth == c)))
        per_class.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return float(np.mean(per_class)), per_class


def _cross_validate_feedback(
    features: npt.NDArray[np.float32],
    labels: npt.NDArray[np.int64],
    weights: npt.NDArray[np.float32],
    is_feedback: npt.NDArray[np.bool_],
    folds: int = 5,
) -> float:
    # Accuracy on own feedback examples, each fold fitted without it: how the head does in-domain.
    rng = np.random.default_rng(SEED)
    fold_of = np.full(len(labels), -1)
    feedback_rows = np.flatnonzero(is_feedback)
    fold_of[feedback_rows] = rng.permutation(len(feedback_rows)) % folds
    correct = 0
    for fold in range(folds):
        train_rows = fold_of != fold
        head_w, head_b = fit_head(features[train_rows], labels[train_rows], weights[train_rows])
        test_rows = fold_of == fold
        correct += int(np.sum(predict(features[test_rows], head_w, head_b) == labels[test_rows]))
    return correct / len(feedback_rows)


def _round(values: npt.NDArray[np.float32]) -> list[float] | list[list[float]]:
    rounded: list[float] | list[list[float]] = np.round(values.astype(np.float64), 6).tolist()
    return rounded


def main(argv: Sequence[str] | None = None) -> int:
    """Train, report on the held-out split, and write the head JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, required=True, help="folder holding tweeteval-sentiment/, uci-sentiment/")
    parser.add_argument("--out", type=Path, required=True, help="where to write sentiment_head.json")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)

    started = time.monotonic()
    torch.manual_seed(SEED)
    train = training_corpus(args.data, feedback_weight=FEEDBACK_WEIGHT)
    held_out = held_out_tweets(args.data)
    encoder = TorchEncoder.stock(threads=args.threads)
    counts = train.counts()
    _say(f"training texts: {len(train.texts)} {counts}; held out: {len(held_out.texts)}")

    x_train = encoder.encode(train.texts)
    x_held = encoder.encode(held_out.texts)
    _say(f"embedded in {time.monotonic() - started:.0f}s")
    y_train = np.asarray(train.labels, dtype=np.int64)
    w_train = np.asarray(train.weights, dtype=np.float32)
    is_feedback = np.asarray([s in {"feedback", "journey-tuning"} for s in train.sources])

    feedback_cv = _cross_validate_feedback(x_train, y_train, w_train, is_feedback)
    weights, bias = fit_head(x_train, y_train, w_train)
    y_held = np.asarray(held_out.labels, dtype=np.int64)
    predicted = predict(x_held, weights, bias)
    f1, per_class = macro_f1(y_held, predicted)
    accuracy = float(np.mean(predicted == y_held))

    doc = {
        "classes": [c.value for c in CLASSES],
        "encoder": "sentence-transformers/all-MiniLM-L6-v2 (mean pooling, L2-normalised)",
        "weights": _round(weights),
        "bias": _round(bias),
        "training": {
            "sources": counts,
            "l2": L2,
            "feedback_weight": FEEDBACK_WEIGHT,
            "class_balanced": True,
            "seed": SEED,
        },
        "evaluation": {
            "tweeteval_held_out_last_lines": HELD_OUT_TWEETS,
            "macro_f1": round(f1, 4),
            "accuracy": round(accuracy, 4),
            "f1_per_class": {c.value: round(v, 4) for c, v in zip(CLASSES, per_class, strict=True)},
            "feedback_5fold_accuracy": round(feedback_cv, 4),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")

    per_class_text = ", ".join(f"{c.value} {v:.3f}" for c, v in zip(CLASSES, per_class, strict=True))
    _say(f"own feedback set, 5-fold accuracy: {feedback_cv:.3f}")
    _say(f"held-out TweetEval (last {HELD_OUT_TWEETS} test lines): macro-F1 {f1:.3f}, accuracy {accuracy:.3f}")
    _say(f"  per-class F1: {per_class_text}")
    _say(f"wrote {args.out} in {time.monotonic() - started:.0f}s total")
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
