"""Every number users see, defined once: NPS, CSAT, CES, sentiment shares, reliability, customer asset state.

Each definition is a small pure function over counters or a customer's
history, tested against hand-computed examples (tests/journey/test_metrics.py).
Change a definition here and every API, page and alert follows.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from shared.contracts import AssetState, StateReason

# -- survey scales ---------------------------------------------------------------------------------------------


class NpsCategory(StrEnum):
    """Net Promoter categories of a 0-10 answer."""

    PROMOTER = "promoter"
    PASSIVE = "passive"
    DETRACTOR = "detractor"


def nps_category(score: int) -> NpsCategory:
    """9-10 promoter, 7-8 passive, 0-6 detractor."""
    if score >= 9:
        return NpsCategory.PROMOTER
    if score >= 7:
        return NpsCategory.PASSIVE
    return NpsCategory.DETRACTOR


SENTIMENT_SCALE = 10_000
"""Rollups keep the sum of sentiment scores as an integer of 1/10,000ths, so sums do not depend on order."""

CSAT_SATISFIED_MIN = 4
"""A CSAT answer (1-5) of 4 or 5 counts as satisfied."""


@dataclass
class Counts:
    """The counters a rollup row keeps (see ``RollupCounts`` in models.py)."""

    volume: int = 0
    negative: int = 0
    neutral: int = 0
    positive: int = 0
    sentiment_points: int = 0
    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    csat_responses: int = 0
    csat_satisfied: int = 0
    ces_responses: int = 0
    ces_total: int = 0
    aided: int = 0
    unaided: int = 0

    # ``add`` and ``negated`` run once per rollup row and per voice read at a period's edges: they work on the
    # instance dict, whose values a dataclass's __init__ sets in field order, instead of looking up each field.

    def add(self, other: Counts) -> Counts:
        """The sum of two sets of counters."""
        return Counts(*map(operator.add, self.__dict__.values(), other.__dict__.values()))

    def times(self, n: int) -> Counts:
        """The counters of ``n`` such voices (``n`` negative takes them away)."""
        return Counts(*(value * n for value in self.__dict__.values()))

    def negated(self) -> Counts:
        """The counters with every sign turned (to take a span's rollup away from a larger one's)."""
        return Counts(*map(operator.neg, self.__dict__.values()))

    @classmethod
    def of(cls, row: Any) -> Counts:
        """Counters read from any object with the same attribute names (a rollup row)."""
        return cls(**{f.name: getattr(row, f.name) or 0 for f in fields(cls)})

    @classmethod
    def of_item(cls, *, sentiment: str, score: float, nps: int | None, csat: int | None, ces: int | None,
                aided: bool) -> Counts:
        """The contribution of one feedback item."""
        category = nps_category(nps) if nps is not None else None
        return cls(
            volume=1,
            negative=int(sentiment == "negative"),
            neutral=int(sentiment == "neutral"),
            positive=int(sentiment == "positive"),
            sentiment_points=round(score * SENTIMENT_SCALE),
            promoters=int(category is NpsCategory.PROMOTER),
            passives=int(category is NpsCategory.PASSIVE),
            detractors=int(category is NpsCategory.DETRACTOR),
            csat_responses=int(csat is not None),
            csat_satisfied=int(csat is not None and csat >= CSAT_SATISFIED_MIN),
            ces_responses=int(ces is not None),
            ces_total=ces or 0,
            aided=int(aided),
            unaided=int(not aided),
        )


def nps(c: Counts) -> float | None:
    """Net Promoter Score: % promoters (9-10) minus % detractors (0-6), from -100 to 100; None without answers."""
    answers = c.promoters + c.passives + c.detractors
    return None if answers == 0 else 100.0 * (c.promoters - c.detractors) / answers


def csat(c: Counts) -> float | None:
    """Customer satisfaction: % of 1-5 answers that are 4 or 5; None without answers."""
    return None if c.csat_responses == 0 else 100.0 * c.csat_satisfied / c.csat_responses


def ces(c: Counts) -> float | None:
    """Customer effort score: mean of 1-7 answers (7 = easiest); None without answers."""
    return None if c.ces_responses == 0 else c.ces_total / c.ces_responses


def negative_share(c: Counts) -> float | None:
    """Share of items with negative sentiment, 0-1; None without items."""
    return None if c.volume == 0 else c.negative / c.volume


def positive_share(c: Counts) -> float | None:
    """Share of items with positive sentiment, 0-1; None without items."""
    return None if c.volume == 0 else c.positive / c.volume


def mean_sentiment(c: Counts) -> float | None:
    """Mean sentiment score, -1..1; None without items."""
    return None if c.volume == 0 else c.sentiment_points / SENTIMENT_SCALE / c.volume


def aided_share(c: Counts) -> float | None:
    """Share of items the customer was asked for (surveys, support), 0-1."""
    return None if c.volume == 0 else c.aided / c.volume


@dataclass(frozen=True)
class Metric:
    """A metric a priority experience can be held to."""

    name: str
    compute: Callable[[Counts], float | None]
    lower_is_better: bool
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("negative_share", negative_share, True, "share of negative voices (target: at most)"),
        Metric("positive_share", positive_share, False, "share of positive voices (target: at least)"),
        Metric("nps", nps, False, "Net Promoter Score (target: at least)"),
        Metric("csat", csat, False, "CSAT % satisfied (target: at least)"),
        Metric("ces", ces, False, "mean customer effort score (target: at least)"),
        Metric("mean_sentiment", mean_sentiment, False, "mean sentiment score (target: at least)"),
    )
}


class Status(StrEnum):
    """Whether a priority experience meets its reliability target."""

    MET = "met"
    MISSED = "missed"
    INSUFFICIENT_DATA = "insufficient_data"


@dataclass(frozen=True)
class Reliability:
    """A priority experience's metric against its target."""

    metric: str
    value: float | None
    target: float
    status: Status
    volume: int


RELIABILITY_MIN_VOLUME = 5
"""Fewer items than this in the window is too little evidence to call a target met or missed."""


def reliability(metric: str, counts: Counts, target: float, *, min_volume: int = RELIABILITY_MIN_VOLUME
                ) -> Reliability:
    """Evaluate ``metric`` over ``counts`` against ``target``; an unknown metric raises ``KeyError``."""
    definition = METRICS[metric]
    value = definition.compute(counts)
    if value is None or counts.volume < min_volume:
        return Reliability(metric, value, target, Status.INSUFFICIENT_DATA, counts.volume)
    met = value <= target if definition.lower_is_better else value >= target
    return Reliability(metric, value, target, Status.MET if met else Status.MISSED, counts.volume)


# -- negative spikes ---------------------------------------------------------------------------------------------

SPIKE_BASELINE_DAYS = 14
SPIKE_MIN_COUNT = 5
SPIKE_SIGMAS = 3.0


@dataclass(frozen=True)
class Spike:
    """A day's negative volume for a stage against its own recent baseline."""

    count: int
    baseline_mean: float
    baseline_std: float
    threshold: float
    is_spike: bool


def negative_spike(count: int, previous_days: Sequence[int]) -> Spike:
    """Is ``count`` negative items in a day a spike against the previous days' counts (missing days are 0)?

    Baseline: mean and population standard deviation of the stage's negative counts on the
    ``SPIKE_BASELINE_DAYS`` days before. A spike is at least ``SPIKE_MIN_COUNT`` items and at least
    mean + ``SPIKE_SIGMAS`` standard deviations.
    """
    days = list(previous_days) or [0]
    mean = sum(days) / len(days)
    std = (sum((d - mean) ** 2 for d in days) / len(days)) ** 0.5
    threshold = max(float(SPIKE_MIN_COUNT), mean + SPIKE_SIGMAS * std)
    return Spike(count, mean, std, threshold, count >= threshold)


# -- customers as assets ----------------------------------------------------------------------------------------

GROWTH_KINDS = frozenset({"purchase", "upgrade", "renewal"})
ASSET_WINDOW = timedelta(days=90)
TREND_VOICES = 3
NEGATIVE_TREND = -0.3
STRONGLY_NEGATIVE = -0.6
BASE_HEALTH = 60


@dataclass(frozen=True)
class Touchpoint:
    """One thing that happened in a customer's life with the company, as the asset rules read it."""

    at: datetime
    kind: str  # "feedback", or a customer event kind: purchase, upgrade, downgrade, renewal, cancellation, ...
    sentiment_score: float | None = None
    sentiment_label: str | None = None
    nps: int | None = None
    stage: str | None = None
    value_delta: float = 0.0


@dataclass(frozen=True)
class Assessment:
    """A customer's state as an asset, health 0-100, and the reasons, as of one moment."""

    state: AssetState
    health: int
    reasons: list[StateReason]
    nps_latest: int | None
    sentiment_trend: float | None


def assess(history: Sequence[Touchpoint], as_of: datetime) -> Assessment:
    """Classify a customer from behaviour and voice up to ``as_of`` (history in time order).

    * **lost**: the last behaviour event is a cancellation (no purchase, upgrade or renewal after it);
    * **at risk**: any of, within the last 90 days: a downgrade; the latest NPS answer is a detractor (0-6);
      a negative trend (mean sentiment of the last 3 voices at most -0.3); the latest voice is negative and
      unanswered by a better one (an open complaint);
    * **growing**: no risk, and a purchase, upgrade or renewal within the last 90 days;
    * **stable**: otherwise.

    Health starts at 60 and each reason adds or removes points (shown with the reason); lost is 0.
    """
    past = [t for t in history if t.at <= as_of]
    recent = [t for t in past if t.at > as_of - ASSET_WINDOW]
    voices = [t for t in past if t.kind == "feedback"]
    behaviour = [t for t in past if t.kind != "feedback" and t.kind not in ("created", "updated")]
    answers = [t for t in voices if t.nps is not None]
    nps_latest = answers[-1].nps if answers else None
    scored = [t.sentiment_score for t in voices[-TREND_VOICES:] if t.sentiment_score is not None]
    trend = sum(scored) / len(scored) if scored else None

    if behaviour and behaviour[-1].kind == "cancellation":
        when = behaviour[-1].at.date().isoformat()
        return Assessment(AssetState.LOST, 0, [StateReason(code="cancelled", detail=f"cancelled on {when}",
                                                              points=-BASE_HEALTH)], nps_latest, trend)

    risks: list[StateReason] = []
    growth: list[StateReason] = []
    for t in recent:
        if t.kind == "downgrade":
            risks.append(StateReason(code="downgrade", detail=f"downgraded on {t.at.date()} "
                                     f"({t.value_delta:+,.0f})", points=-20))
        elif t.kind in GROWTH_KINDS:
            growth.append(StateReason(code=t.kind, detail=f"{t.kind} on {t.at.date()} ({t.value_delta:+,.0f})",
                                      points=10))
    if answers and answers[-1].at > as_of - ASSET_WINDOW and nps_latest is not None:
        category = nps_category(nps_latest)
        day = answers[-1].at.date()
        if category is NpsCategory.DETRACTOR:
            risks.append(StateReason(code="detractor", detail=f"latest NPS {nps_latest} on {day}", points=-25))
        elif category is NpsCategory.PROMOTER:
            growth_reason = StateReason(code="promoter", detail=f"latest NPS {nps_latest} on {day}", points=15)
            growth.append(growth_reason)
    recent_voices = [t for t in voices if t.at > as_of - ASSET_WINDOW]
    if len(scored) >= 2 and trend is not None and trend <= NEGATIVE_TREND and recent_voices:
        risks.append(StateReason(code="negative_trend", detail=f"mean sentiment {trend:+.2f} over the last "
                                 f"{len(scored)} voices", points=-15))
    if recent_voices and recent_voices[-1].sentiment_label == "negative":
        last = recent_voices[-1]
        where = f" about {last.stage}" if last.stage else ""
        strong = last.sentiment_score is not None and last.sentiment_score <= STRONGLY_NEGATIVE
        risks.append(StateReason(code="open_complaint", detail=f"latest voice{where} on {last.at.date()} is "
                                 f"{'strongly ' if strong else ''}negative", points=-15 if strong else -10))

    # Promoter answers are signs of health, not of growth in value: only behaviour makes a customer "growing".
    grows = any(r.code in GROWTH_KINDS for r in growth)
    state = AssetState.AT_RISK if risks else AssetState.GROWING if grows else AssetState.STABLE
    reasons = risks + growth
    health = max(0, min(100, BASE_HEALTH + sum(r.points for r in reasons)))
    return Assessment(state, health, reasons, nps_latest, trend)
