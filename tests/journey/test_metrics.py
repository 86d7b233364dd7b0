"""Every metric definition against examples computed by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.journey import metrics
from services.journey.metrics import Counts, Touchpoint
from shared.contracts import AssetState


def answers(*nps: int) -> Counts:
    total = Counts()
    for score in nps:
        total = total.add(Counts.of_item(sentiment="neutral", score=0.0, nps=score, csat=None, ces=None, aided=True))
    return total


@pytest.mark.parametrize(("score", "category"), [(10, "promoter"), (9, "promoter"), (8, "passive"), (7, "passive"),
                                                 (6, "detractor"), (0, "detractor")])
def test_nps_categories(score: int, category: str) -> None:
    assert metrics.nps_category(score).value == category


def test_nps_is_percent_promoters_minus_percent_detractors() -> None:
    # 10 answers: 5 promoters (9, 9, 10, 10, 10), 3 passives (7, 8, 8), 2 detractors (3, 6) → 50% - 20% = 30
    assert metrics.nps(answers(9, 9, 10, 10, 10, 7, 8, 8, 3, 6)) == pytest.approx(30.0)
    # all detractors → -100; no answers → None
    assert metrics.nps(answers(0, 5, 6)) == pytest.approx(-100.0)
    assert metrics.nps(Counts()) is None


def test_csat_is_the_share_of_4_and_5() -> None:
    c = Counts()
    for score in (5, 4, 4, 3, 1):  # 3 of 5 satisfied → 60%
        c = c.add(Counts.of_item(sentiment="neutral", score=0, nps=None, csat=score, ces=None, aided=True))
    assert metrics.csat(c) == pytest.approx(60.0)
    assert metrics.csat(Counts()) is None


def test_ces_is_the_mean_answer() -> None:
    c = Counts()
    for score in (7, 6, 2):  # (7 + 6 + 2) / 3 = 5
        c = c.add(Counts.of_item(sentiment="neutral", score=0, nps=None, csat=None, ces=score, aided=True))
    assert metrics.ces(c) == pytest.approx(5.0)


def test_sentiment_shares_and_aided_mix() -> None:
    c = Counts()
    for label, score, aided in [("negative", -0.8, True), ("negative", -0.4, False), ("positive", 0.9, False),
                                ("neutral", 0.1, False)]:
        c = c.add(Counts.of_item(sentiment=label, score=score, nps=None, csat=None, ces=None, aided=aided))
    assert metrics.negative_share(c) == pytest.approx(0.5)
    assert metrics.positive_share(c) == pytest.approx(0.25)
    assert metrics.mean_sentiment(c) == pytest.approx((-0.8 - 0.4 + 0.9 + 0.1) / 4)
    assert metrics.aided_share(c) == pytest.approx(0.25)


def test_reliability_respects_direction_and_minimum_volume() -> None:
    c = Counts(volume=10, negative=3)  # negative share 0.3
    assert metrics.reliability("negative_share", c, 0.2).status is metrics.Status.MISSED
    assert metrics.reliability("negative_share", c, 0.3).status is metrics.Status.MET  # at most the target
    assert metrics.reliability("negative_share", Counts(volume=4, negative=0), 0.2).status is \
        metrics.Status.INSUFFICIENT_DATA
    nps_counts = answers(10, 10, 10, 9, 6)  # NPS (4 - 1) / 5 = 60
    assert metrics.reliability("nps", nps_counts, 50).status is metrics.Status.MET
    assert metrics.reliability("nps", nps_counts, 70).status is metrics.Status.MISSED
    with pytest.raises(KeyError):
        metrics.reliability("happiness", c, 1.0)


def test_negative_spike_against_the_baseline() -> None:
    # baseline 14 days of [1, 1, 2, 0, 1, 1, 2, 1, 0, 1, 1, 2, 1, 0]: mean 1.0, population std ≈ 0.6547
    baseline = [1, 1, 2, 0, 1, 1, 2, 1, 0, 1, 1, 2, 1, 0]
    spike = metrics.negative_spike(8, baseline)
    assert spike.baseline_mean == pytest.approx(1.0)
    assert spike.baseline_std == pytest.approx(0.6547, abs=1e-4)
    assert spike.threshold == pytest.approx(5.0)  # max(5, 1 + 3 * 0.6547 = 2.96)
    assert spike.is_spike
    assert not metrics.negative_spike(4, baseline).is_spike  # under the minimum of 5
    busy = [10, 12, 8, 11, 9, 10, 12, 8, 11, 9, 10, 12, 8, 11]
    assert not metrics.negative_spike(13, busy).is_spike  # within mean + 3 std of a busy stage


T0 = datetime(2026, 9, 1, tzinfo=UTC)


def voice(day: int, score: float, *, nps: int | None = None, stage: str = "support") -> Touchpoint:
    label = "negative" if score < -0.2 else "positive" if score > 0.2 else "neutral"
    return Touchpoint(at=T0 + timedelta(days=day), kind="feedback", sentiment_score=score, sentiment_label=label,
                      nps=nps, stage=stage)


def event(day: int, kind: str, delta: float = 0.0) -> Touchpoint:
    return Touchpoint(at=T0 + timedelta(days=day), kind=kind, value_delta=delta)


def test_a_cancellation_means_lost_with_zero_health() -> None:
    history = [event(0, "purchase", 5000), voice(10, -0.7, nps=3), event(20, "cancellation", -5000)]
    a = metrics.assess(history, history[-1].at)
    assert a.state is AssetState.LOST
    assert a.health == 0
    assert a.reasons[0].code == "cancelled"


def test_growth_needs_behaviour_and_no_risk() -> None:
    history = [event(0, "purchase", 1000), voice(5, 0.8, nps=10), event(30, "upgrade", 2000)]
    a = metrics.assess(history, history[-1].at)
    assert a.state is AssetState.GROWING
    assert {r.code for r in a.reasons} == {"purchase", "promoter", "upgrade"}
    assert a.health == 60 + 10 + 15 + 10


def test_a_detractor_puts_a_growing_customer_at_risk() -> None:
    history = [event(0, "upgrade", 2000), voice(3, -0.5, nps=4)]
    a = metrics.assess(history, history[-1].at)
    assert a.state is AssetState.AT_RISK
    assert {r.code for r in a.reasons} == {"detractor", "open_complaint", "upgrade"}
    assert a.health == 60 - 25 - 10 + 10


def test_a_negative_trend_and_a_downgrade_are_risks() -> None:
    # mean of the last three voices (-0.6 - 0.5 + 0.1) / 3 = -0.333 ≤ -0.3; the last voice is neutral
    history = [voice(0, -0.6), voice(1, -0.5), voice(2, 0.1), event(3, "downgrade", -300)]
    a = metrics.assess(history, history[-1].at)
    assert a.state is AssetState.AT_RISK
    assert {r.code for r in a.reasons} == {"negative_trend", "downgrade"}
    assert a.sentiment_trend == pytest.approx(-1 / 3)
    assert a.health == 60 - 15 - 20


def test_old_signals_fall_out_of_the_window() -> None:
    history = [event(0, "downgrade", -300), voice(1, 0.6, nps=9), voice(200, 0.3)]
    a = metrics.assess(history, history[-1].at)
    assert a.state is AssetState.STABLE  # the downgrade and the promoter answer are over 90 days old
    assert a.reasons == []
    assert a.health == 60
