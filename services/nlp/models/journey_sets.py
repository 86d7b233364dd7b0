"""The project's labelled journey sets: invented companies' maps and feedback tagged with stage and sentiment.

Files live in ``eval_data/``: ``maps/<company>.yaml``, ``tuning/<company>.jsonl`` (the stage scorer
is fitted on these and nothing else) and ``heldout/<company>.jsonl`` (never used for fitting or
tuning; only the benches read it). Each line is ``{"id", "text", "sentiment", "stage"}`` with
``stage`` a stage id of the company's map or ``null``. See ``eval_data/README.md``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from shared.contracts.feedback import SentimentLabel
from shared.contracts.journey_map import JourneyMap

EVAL_DATA = Path(__file__).resolve().parent / "eval_data"


class Split(StrEnum):
    """Which part of the journey sets: ``tuning`` may be fitted on, ``heldout`` never."""

    TUNING = "tuning"
    HELDOUT = "heldout"


@dataclass(frozen=True)
class JourneyItem:
    """One labelled feedback text."""

    id: str
    text: str
    sentiment: SentimentLabel
    stage: str | None


@dataclass(frozen=True)
class JourneySet:
    """One company's items of one split, with the company's map."""

    company: str
    split: Split
    journey_map: JourneyMap
    items: list[JourneyItem]


def tuning_companies(root: Path = EVAL_DATA) -> list[str]:
    """Companies with a tuning part (their held-out part is kept apart); the rest are unseen domains."""
    return sorted(p.stem for p in (root / Split.TUNING).glob("*.jsonl"))


def load_sets(split: Split, root: Path = EVAL_DATA) -> list[JourneySet]:
    """Every company's set of ``split``, sorted by company; checks each label against the company's map."""
    sets = []
    for path in sorted((root / split).glob("*.jsonl")):
        journey_map = JourneyMap.load(root / "maps" / f"{path.stem}.yaml")
        stage_ids = set(journey_map.stage_ids())
        items = []
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            stage = row["stage"]
            if stage is not None and stage not in stage_ids:
                raise ValueError(f"{path}:{number}: stage {stage!r} is not in {path.stem}'s map")
            items.append(JourneyItem(row["id"], row["text"], SentimentLabel(row["sentiment"]), stage))
        sets.append(JourneySet(path.stem, split, journey_map, items))
    return sets
