"""What training may read and what is held out, on a stand-in data folder shaped like ../shared/data."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.nlp.models.corpora import (
    HELD_OUT_TWEETS,
    UCI_FILES,
    held_out_tweets,
    held_out_uci,
    training_corpus,
)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    tweets = root / "tweeteval-sentiment"
    tweets.mkdir()
    (tweets / "val_text.txt").write_text("".join(f"val tweet {i}\n" for i in range(20)))
    (tweets / "val_labels.txt").write_text("".join(f"{i % 3}\n" for i in range(20)))
    total = HELD_OUT_TWEETS + 50
    (tweets / "test_text.txt").write_text("".join(f"test tweet {i}\n" for i in range(total)))
    (tweets / "test_labels.txt").write_text("".join(f"{i % 3}\n" for i in range(total)))
    uci = root / "uci-sentiment"
    uci.mkdir()
    for name in UCI_FILES:
        lines = "".join(f"{name} sentence {i} caf\xe9\t{(i // 10) % 2}\n" for i in range(30))
        (uci / name).write_bytes(lines.encode("latin-1"))
    return root


def test_last_4000_test_tweets_are_held_out_and_never_trained(data_dir: Path) -> None:
    train = training_corpus(data_dir, feedback_weight=5.0)
    held = held_out_tweets(data_dir)
    assert len(held.texts) == HELD_OUT_TWEETS
    assert held.texts[0] == "test tweet 50"
    assert not set(held.texts) & set(train.texts)
    assert train.counts()["tweeteval-test"] == 50
    assert train.counts()["tweeteval-val"] == 20


def test_every_tenth_uci_line_is_held_out(data_dir: Path) -> None:
    train = training_corpus(data_dir, feedback_weight=5.0)
    held = held_out_uci(data_dir)
    assert len(held.texts) == 3 * 3
    assert all(t.split()[2] in {"9", "19", "29"} for t in held.texts)
    assert not set(held.texts) & set(train.texts)
    assert set(held.labels) == {0, 2}  # negative and positive only: UCI has no neutral
    assert "café" in held.texts[0]


def test_own_feedback_is_weighted_and_the_journey_held_out_split_is_not_read(data_dir: Path) -> None:
    train = training_corpus(data_dir, feedback_weight=5.0)
    weights = dict(zip(train.sources, train.weights, strict=True))
    assert weights["feedback"] == weights["journey-tuning"] == 5.0
    assert weights["tweeteval-test"] == 1.0
    from services.nlp.models.journey_sets import Split, load_sets

    held_out_texts = {i.text for s in load_sets(Split.HELDOUT) for i in s.items}
    assert not held_out_texts & set(train.texts)
