"""Labelled sentiment corpora: what training may read, and what only evaluation may read.

From ``../shared/data`` (not part of the repository):

- TweetEval sentiment: the validation split and the test split except its **last 4,000 lines** train;
  those last 4,000 lines are held out (``tweeteval-heldout``), never trained or tuned on.
- UCI Sentiment Labelled Sentences: every line except every tenth (line index 9, 19, ...) trains;
  every tenth line of each file is held out (``uci-heldout``). UCI has no neutral class.

From the repository: ``training_data/feedback_sentiment.jsonl`` (customer-feedback sentences written
for this project) and the sentiment labels of the journey sets' *tuning* split train; the journey
sets' held-out split is only ever read by the benches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from services.nlp.models.journey_sets import Split, load_sets
from services.nlp.models.sentiment import CLASSES

HELD_OUT_TWEETS = 4000
UCI_HOLD_OUT_EVERY = 10
UCI_FILES = ("amazon_cells_labelled.txt", "imdb_labelled.txt", "yelp_labelled.txt")
FEEDBACK_PATH = Path(__file__).resolve().parent / "training_data" / "feedback_sentiment.jsonl"
LABEL_INDEX = {c.value: i for i, c in enumerate(CLASSES)}
"""Class indices in ``CLASSES`` order: 0 negative, 1 neutral, 2 positive (TweetEval's own mapping)."""


@dataclass
class Corpus:
    """Texts with class indices (``CLASSES`` order), per-example weights and source names."""

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

    def extend(self, other: Corpus) -> None:
        """Append all of ``other``."""
        self.texts.extend(other.texts)
        self.labels.extend(other.labels)
        self.weights.extend(other.weights)
        self.sources.extend(other.sources)

    def counts(self) -> dict[str, int]:
        """Examples per source, in first-seen order."""
        return {s: self.sources.count(s) for s in dict.fromkeys(self.sources)}


def _lines(path: Path, encoding: str = "utf-8") -> list[str]:
    return path.read_text(encoding=encoding).splitlines()


def _tweeteval(data_dir: Path) -> tuple[list[str], list[int], list[str], list[int], list[str], list[int]]:
    folder = data_dir / "tweeteval-sentiment"
    val_texts, val_labels = _lines(folder / "val_text.txt"), [int(x) for x in _lines(folder / "val_labels.txt")]
    texts, labels = _lines(folder / "test_text.txt"), [int(x) for x in _lines(folder / "test_labels.txt")]
    cut = len(texts) - HELD_OUT_TWEETS
    return val_texts, val_labels, texts[:cut], labels[:cut], texts[cut:], labels[cut:]


def _uci(data_dir: Path, name: str) -> list[tuple[int, str, int]]:
    rows = []
    for index, line in enumerate(_lines(data_dir / "uci-sentiment" / name, encoding="latin-1")):
        sentence, _, label = line.rpartition("\t")
        if label.strip() in {"0", "1"} and sentence.strip():
            target = LABEL_INDEX["positive"] if label.strip() == "1" else LABEL_INDEX["negative"]
            rows.append((index, sentence.strip().strip('"').strip(), target))
    return rows


def _is_uci_held_out(index: int) -> bool:
    return index % UCI_HOLD_OUT_EVERY == UCI_HOLD_OUT_EVERY - 1


def feedback_corpus(weight: float) -> Corpus:
    """The project's own labelled feedback: ``feedback_sentiment.jsonl`` and the journey sets' tuning split."""
    corpus = Corpus()
    texts, labels = [], []
    for line in _lines(FEEDBACK_PATH):
        if line.strip():
            row = json.loads(line)
            texts.append(row["text"])
            labels.append(LABEL_INDEX[row["label"]])
    corpus.add(texts, labels, "feedback", weight)
    journey = [item for s in load_sets(Split.TUNING) for item in s.items]
    corpus.add([i.text for i in journey], [LABEL_INDEX[i.sentiment.value] for i in journey], "journey-tuning", weight)
    return corpus


def training_corpus(data_dir: Path, *, feedback_weight: float) -> Corpus:
    """Everything training may read; own feedback examples count ``feedback_weight`` times."""
    corpus = Corpus()
    val_texts, val_labels, train_texts, train_labels, _, _ = _tweeteval(data_dir)
    corpus.add(val_texts, val_labels, "tweeteval-val")
    corpus.add(train_texts, train_labels, "tweeteval-test")
    for name in UCI_FILES:
        rows = [r for r in _uci(data_dir, name) if not _is_uci_held_out(r[0])]
        corpus.add([r[1] for r in rows], [r[2] for r in rows], f"uci-{name.split('_')[0]}")
    corpus.extend(feedback_corpus(feedback_weight))
    return corpus


def held_out_tweets(data_dir: Path) -> Corpus:
    """The last 4,000 lines of the TweetEval test split."""
    corpus = Corpus()
    _, _, _, _, texts, labels = _tweeteval(data_dir)
    corpus.add(texts, labels, "tweeteval-heldout")
    return corpus


def held_out_uci(data_dir: Path) -> Corpus:
    """Every tenth line of each UCI file (negative/positive only)."""
    corpus = Corpus()
    for name in UCI_FILES:
        rows = [r for r in _uci(data_dir, name) if _is_uci_held_out(r[0])]
        corpus.add([r[1] for r in rows], [r[2] for r in rows], f"uci-{name.split('_')[0]}-heldout")
    return corpus
