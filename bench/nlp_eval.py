"""NLP accuracy bench: sentiment and journey-stage figures of the service path, with baselines from the same run.

Usage::

    python bench/nlp_eval.py [--data ../shared/data] [--threads 2] [--model-dir DIR] [--json results.json]

Sentiment (accuracy and macro-F1 over the classes present in the gold labels), on held-out sets only:

- ``tweeteval-heldout``: the last 4,000 lines of the TweetEval test split (never trained or tuned on);
- ``uci-heldout``: every tenth line of each UCI file (negative/positive only, so neutral answers are errors);
- ``journey-heldout``: the project's held-out journey items (``eval_data/heldout/``), all companies.

Stage accuracy (the stage id or "no stage" must match) on the held-out journey items: in total, for
the companies whose maps no tuning ever saw, for the held-out part of the tuning companies, and per
company; the tuning split is shown too, marked as seen. Baselines in the same run: VADER for sentiment;
"keywords only" (the map's keywords, the same dominance rule, else no stage) for stages.

Everything goes through ``Analyzer.analyze``, the path the consumer and ``POST /v1/analyze`` use.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.nlp.models import Analyzer, TextInput, VaderSentiment  # noqa: E402
from services.nlp.models.corpora import Corpus, held_out_tweets, held_out_uci  # noqa: E402
from services.nlp.models.journey_sets import JourneySet, Split, load_sets, tuning_companies  # noqa: E402
from services.nlp.models.sentiment import CLASSES  # noqa: E402
from services.nlp.models.stage import KEYWORD, KEYWORD_DOMINANCE, StageClassifier  # noqa: E402
from shared.contracts.journey_map import JourneyMap  # noqa: E402

LABELS = [c.value for c in CLASSES]


@dataclass(frozen=True)
class SentimentScore:
    """Accuracy, macro-F1 and per-class F1 of predicted against gold labels."""

    n: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, float]


def score_sentiment(gold: Sequence[str], predicted: Sequence[str]) -> SentimentScore:
    """Macro-F1 over the classes present in ``gold`` (UCI has no neutral: predicting it is an error)."""
    truth, guess = np.asarray(gold), np.asarray(predicted)
    per_class = {}
    for label in LABELS:
        if not np.any(truth == label):
            continue
        tp = float(np.sum((guess == label) & (truth == label)))
        fp = float(np.sum((guess == label) & (truth != label)))
        fn = float(np.sum((guess != label) & (truth == label)))
        per_class[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    macro = float(np.mean(list(per_class.values())))
    return SentimentScore(len(truth), float(np.mean(truth == guess)), macro, per_class)


def keyword_baseline(journey_map: JourneyMap, texts: Sequence[str], classifier: StageClassifier) -> list[str | None]:
    """Stage by keywords alone: the stage with the most distinct hits if it dominates, else none."""
    features = classifier.features(list(texts), np.zeros((len(texts), 384), dtype=np.float32))
    ids = journey_map.stage_ids()
    out: list[str | None] = []
    for row in features[:, :, KEYWORD]:
        order = np.argsort(-row, kind="stable")
        top, second = row[order[0]], (row[order[1]] if len(row) > 1 else 0.0)
        out.append(ids[int(order[0])] if top > 0 and top >= KEYWORD_DOMINANCE * second else None)
    return out


def analyze_corpus(analyzer: Analyzer, corpus: Corpus, batch: int = 256) -> list[str]:
    """Sentiment labels of the service path for every text of ``corpus``."""
    labels = []
    for start in range(0, len(corpus.texts), batch):
        chunk = corpus.texts[start : start + batch]
        labels += [a.sentiment.label.value for a in analyzer.analyze([TextInput(t) for t in chunk])]
    return labels


def run_journey(analyzer: Analyzer, journey_set: JourneySet) -> dict[str, Any]:
    """Service-path and baseline predictions for one company's items against its own map."""
    company = analyzer.with_journey_map(journey_set.journey_map)
    texts = [i.text for i in journey_set.items]
    analyses = company.analyze([TextInput(t) for t in texts])
    classifier = StageClassifier(journey_set.journey_map, analyzer.encoder.encode)
    return {
        "stage_gold": [i.stage for i in journey_set.items],
        "stage_model": [a.stage.id for a in analyses],
        "stage_methods": [a.stage.method.value for a in analyses],
        "stage_keywords": keyword_baseline(journey_set.journey_map, texts, classifier),
        "sentiment_gold": [i.sentiment.value for i in journey_set.items],
        "sentiment_model": [a.sentiment.label.value for a in analyses],
    }


def _accuracy(gold: Sequence[str | None], predicted: Sequence[str | None]) -> float:
    return float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)])) if gold else float("nan")


def main(argv: Sequence[str] | None = None) -> int:
    """Run every set, print the tables, optionally write them as JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="../shared/data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--model-dir", type=Path, default=None, help="a built model other than artifacts/built/")
    args = parser.parse_args(argv)
    started = time.monotonic()

    first_map = load_sets(Split.HELDOUT)[0].journey_map
    analyzer = Analyzer.load(first_map, threads=args.threads, model_dir=args.model_dir)
    vader = VaderSentiment()
    print(f"model: {analyzer.model_version}; baseline: {vader.name}")
    results: dict[str, Any] = {"model_version": analyzer.model_version, "sentiment": {}, "stage": {}}

    sentiment_sets: list[tuple[str, list[str], list[str]]] = []
    texts_by_set: dict[str, list[str]] = {}
    if (args.data / "tweeteval-sentiment").is_dir():
        named = (("tweeteval-heldout", held_out_tweets(args.data)), ("uci-heldout", held_out_uci(args.data)))
        for name, corpus in named:
            sentiment_sets.append((name, [LABELS[y] for y in corpus.labels], analyze_corpus(analyzer, corpus)))
            texts_by_set[name] = corpus.texts
    else:
        print(f"(no {args.data}/tweeteval-sentiment: TweetEval and UCI sets skipped)")

    journeys = {s.company: (s, run_journey(analyzer, s)) for s in load_sets(Split.HELDOUT)}
    tuning = {s.company: (s, run_journey(analyzer, s)) for s in load_sets(Split.TUNING)}
    held_gold = [g for _, r in journeys.values() for g in r["sentiment_gold"]]
    held_model = [p for _, r in journeys.values() for p in r["sentiment_model"]]
    held_texts = [i.text for s, _ in journeys.values() for i in s.items]
    sentiment_sets.append(("journey-heldout", held_gold, held_model))
    texts_by_set["journey-heldout"] = held_texts

    print()
    print("SENTIMENT (held-out sets)            model                 VADER baseline")
    print(f"{'set':<24}{'n':>6}   {'accuracy':>9}{'macro-F1':>10}   {'accuracy':>9}{'macro-F1':>10}")
    for name, gold, predicted in sentiment_sets:
        model = score_sentiment(gold, predicted)
        baseline = score_sentiment(gold, [t.label.value for t in vader.tag(texts_by_set[name])])
        print(
            f"{name:<24}{model.n:>6}   {model.accuracy:>9.3f}{model.macro_f1:>10.3f}   "
            f"{baseline.accuracy:>9.3f}{baseline.macro_f1:>10.3f}"
        )
        per_class = ", ".join(f"{k} {v:.3f}" for k, v in model.per_class.items())
        print(f"{'':<24}{'':>6}   per-class F1: {per_class}")
        results["sentiment"][name] = {"model": model.__dict__, "vader": baseline.__dict__}

    print()
    print("STAGE ACCURACY                       model   keywords-only baseline   methods (model)")
    seen = set(tuning_companies())

    def stage_row(label: str, parts: Sequence[dict[str, Any]]) -> None:
        gold = [g for r in parts for g in r["stage_gold"]]
        model = [p for r in parts for p in r["stage_model"]]
        keywords = [p for r in parts for p in r["stage_keywords"]]
        methods = [m for r in parts for m in r["stage_methods"]]
        shares = {m: methods.count(m) for m in sorted(set(methods))}
        accuracy, baseline = _accuracy(gold, model), _accuracy(gold, keywords)
        print(f"{label:<31}{len(gold):>5}   {accuracy:>6.3f}   {baseline:>22.3f}   {shares}")
        results["stage"][label.strip()] = {
            "n": len(gold), "model": accuracy, "keywords_only": baseline, "methods": shares
        }

    stage_row("heldout, all", [r for _, r in journeys.values()])
    stage_row("heldout, unseen companies", [r for c, (_, r) in journeys.items() if c not in seen])
    stage_row("heldout, tuning companies", [r for c, (_, r) in journeys.items() if c in seen])
    for company, (_, r) in journeys.items():
        stage_row(f"  heldout {company}{'' if company in seen else ' *'}", [r])
    stage_row("tuning (seen in fitting)", [r for _, r in tuning.values()])
    print("  * company whose map and items no tuning ever saw")
    print(f"\n{time.monotonic() - started:.0f}s")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
