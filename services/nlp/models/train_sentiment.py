"""Train the sentiment head: embed labelled texts with the encoder and fit a linear softmax head.

Usage::

    python -m services.nlp.models.train_sentiment --data /work/shared/data \\
        --out services/nlp/models/artifacts/sentiment_head.json

Training texts: TweetEval sentiment validation split, TweetEval test split except its last
4,000 lines, UCI "Sentiment Labelled Sentences" (0/1 -> negative/positive) and the customer
feedback set in ``training_data/feedback_sentiment.jsonl``. The last 4,000 TweetEval test
lines are held out: nothing is fitted or tuned on them; the script only reports on them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch

from services.nlp.models.encoder import TextEncoder
from services.nlp.models.sentiment import CLASSES

HELD_OUT_LINES = 4000
FEEDBACK_PATH = Path(__file__).resolve().parent / "training_data" / "feedback_sentiment.jsonl"
UCI_FILES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")
SEED = 20261001
L2 = 3e-4
FEEDBACK_WEIGHT = 20.0
"""Each own customer-feedback example counts this many times: it is the only in-domain data."""

_LABEL_INDEX = {c.value: i for i, c in enumerate(CLASSES)}


@dataclass
class Corpus:
    """Texts with class indices (``CLASSES`` order) and per-example weights."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def add(self, texts: Sequence[str], labels: Sequence[int], source: str, weight: float = 1.0) -> None:
        """Append aligned texts and labels from one source."""
        if len(texts) != len(labels):
            raise ValueError(f"{source}: {len(texts)} texts but {len(labels)} labels")
        self.texts.extend(texts)
        self.labels.extend(labels)
        self.weights.extend([weight] * len(texts))
        self.sources.extend([source] * len(texts))


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return path.read_text(encoding=encoding).splitlines()


def _tweeteval_labels(path: Path) -> list[int]:
    # TweetEval's mapping.txt is 0 negative, 1 neutral, 2 positive: the order of CLASSES.
    return [int(line) for line in _lines(path)]


def load_corpora(data_dir: Path) -> tuple[Corpus, Corpus]:
    """The training corpus and the held-out TweetEval evaluation corpus."""
    tweeteval = data_dir / "tweeteval-sentiment"
    train, held_out = Corpus(), Corpus()
    train.add(_lines(tweeteval / "val_text.txt"), _tweeteval_labels(tweeteval / "val_labels.txt"), "tweeteval-val")
    test_texts = _lines(tweeteval / "test_text.txt")
    test_labels = _tweeteval_labels(tweeteval / "test_labels.txt")
    cut = len(test_texts) - HELD_OUT_LINES
    train.add(test_texts[:cut], test_labels[:cut], "tweeteval-test")
    held_out.add(test_texts[cut:], test_labels[cut:], "tweeteval-held-out")

    for name in UCI_FILES:
        texts, labels = [], []
        for line in _lines(data_dir / "uci-sentiment" / name, encoding="latin-1"):
            sentence, _, label = line.rpartition("\t")
            if label.strip() in {"0", "1"} and sentence.strip():
                texts.append(sentence.strip().strip('"').strip())
                labels.append(_LABEL_INDEX["positive"] if label.strip() == "1" else _LABEL_INDEX["negative"])
        train.add(texts, labels, f"uci-{name.split('_')[0]}")

    texts, labels = [], []
    for line in _lines(FEEDBACK_PATH):
        if line.strip():
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(_LABEL_INDEX[row["label"]])
    train.add(texts, labels, "feedback", FEEDBACK_WEIGHT)
    return train, held_out


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
    train, held_out = load_corpora(args.data)
    encoder = TextEncoder.load(threads=args.threads)
    counts = {s: train.sources.count(s) for s in dict.fromkeys(train.sources)}
    _say(f"training texts: {len(train.texts)} {counts}; held out: {len(held_out.texts)}")

    x_train = encoder.encode(train.texts)
    x_held = encoder.encode(held_out.texts)
    _say(f"embedded in {time.monotonic() - started:.0f}s")
    y_train = np.asarray(train.labels, dtype=np.int64)
    w_train = np.asarray(train.weights, dtype=np.float32)
    is_feedback = np.asarray([s == "feedback" for s in train.sources])

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
            "tweeteval_held_out_last_lines": HELD_OUT_LINES,
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
    _say(f"held-out TweetEval (last {HELD_OUT_LINES} test lines): macro-F1 {f1:.3f}, accuracy {accuracy:.3f}")
    _say(f"  per-class F1: {per_class_text}")
    _say(f"wrote {args.out} in {time.monotonic() - started:.0f}s total")
    return 0


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
