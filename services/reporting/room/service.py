"""What the customer room shows: the story of customers' lives at a glance, from the reporting reads."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from services.journey import metrics
from services.journey.metrics import Counts
from services.journey.models import Customer, FeedbackItem
from services.reporting.accountability.service import report
from services.reporting.customers.service import summary
from services.reporting.periods import Period
from services.reporting.rollup_reads import segment_customers, stage_totals, texts, weekly, worst_voice_ids
from shared.contracts import JourneyMap

VERBATIMS_PER_STAGE = 2
AT_RISK_SHOWN = 12


def _health(negative_share: float | None) -> str:
    if negative_share is None:
        return "unknown"
    return "good" if negative_share < 0.15 else "watch" if negative_share < 0.3 else "poor"


def segments(session: Session) -> list[str]:
    """The customer segments known, for the filter."""
    rows = session.scalars(select(Customer.segment).where(Customer.segment.is_not(None)).distinct())
    return sorted(s for s in rows if s)


def _segment_verbatims(session: Session, period: Period, stage: str, segment: str) -> list[str]:
    """A segment's most negative verbatims about a stage (rollups are not kept per segment: items are read)."""
    return list(session.scalars(
        select(FeedbackItem.text).where(FeedbackItem.stage_id == stage, FeedbackItem.sentiment_label == "negative",
                                        FeedbackItem.occurred_at >= period.start(),
                                        FeedbackItem.occurred_at < period.end(), FeedbackItem.text != "",
                                        FeedbackItem.customer_id.in_(segment_customers(segment)))
        .order_by(FeedbackItem.sentiment_score, FeedbackItem.occurred_at.desc()).limit(VERBATIMS_PER_STAGE)))


def room(session: Session, period: Period, journey_map: JourneyMap, segment: str | None) -> dict[str, Any]:
    """Everything the page renders, as plain data (also embedded as JSON for the charts).

    A segment narrows every panel to its customers and their voices: headline numbers, stages, verbatims,
    priority experiences (their value for the segment against the company's target), the trend, the ledger
    and the at-risk list. Alert counts stay company-wide (alerts are about stages and experiences).
    """
    acc = report(session, period, journey_map, segment=segment)
    now = acc.overview.current
    totals = stage_totals(session, period, segment=segment)
    stage_weeks = weekly(session, "stage", period, segment=segment)
    weeks = [w for w, _ in stage_weeks]
    worst: dict[str, list[str]] = {}
    quotes: dict[str, str] = {}
    if segment is None:
        worst = worst_voice_ids(session, period, per_stage=VERBATIMS_PER_STAGE * 2)
        quotes = texts(session, (i for ids in worst.values() for i in ids), period.span(), label="negative")
    stages: list[dict[str, Any]] = []
    for stage in journey_map.stages:
        c = totals.get(stage.id, Counts())
        share = metrics.negative_share(c)
        trend = [week.get(stage.id, Counts()) for _, week in stage_weeks]
        verbatims = (_segment_verbatims(session, period, stage.id, segment) if segment is not None else
                     [quotes[i] for i in worst.get(stage.id, []) if i in quotes][:VERBATIMS_PER_STAGE])
        stages.append({
            "id": stage.id, "name": stage.name, "volume": c.volume, "negative_share": share,
            "nps": metrics.nps(c), "health": _health(share), "verbatims": verbatims,
            "trend": {"weeks": [w.isoformat() for w in weeks],
                      "negative_share": [metrics.negative_share(x) for x in trend],
                      "volume": [x.volume for x in trend]},
        })
    experience_weeks = weekly(session, "experience", period, segment=segment)
    experiences = []
    for pe, line in zip(journey_map.priority_experiences, acc.targets, strict=False):
        definition = metrics.METRICS[pe.metric]
        experiences.append({**line.model_dump(), "stage": pe.stage,
                            "trend": {"weeks": [w.isoformat() for w in weeks],
                                      "values": [definition.compute(week.get(pe.id, Counts()))
                                                 for _, week in experience_weeks]}})
    risk_filter = [Customer.merged_into.is_(None), Customer.state == "at_risk"]
    if segment:
        risk_filter.append(Customer.segment == segment)
    at_risk = session.scalars(select(Customer).where(and_(*risk_filter))
                              .order_by(func.coalesce(Customer.value, -1.0).desc(), Customer.id).limit(AT_RISK_SHOWN))
    state_filter = [Customer.merged_into.is_(None)] + ([Customer.segment == segment] if segment else [])
    states = {state: (int(n), float(v or 0)) for state, n, v in session.execute(
        select(Customer.state, func.count(), func.sum(Customer.value)).where(and_(*state_filter))
        .group_by(Customer.state))}
    all_stages = [sum_counts(week.values()) for _, week in stage_weeks]
    return {
        "company": journey_map.company,
        "period": {"since": period.since.isoformat(), "until": period.until.isoformat(), "days": period.days,
                   "tz": str(period.tz)},
        "segment": segment,
        "voices": now.voices.model_dump(),
        "change": acc.overview.change,
        "ledger": now.customers.model_dump(),
        "states": {k: {"customers": n, "value": v} for k, (n, v) in states.items()},
        "stages": stages,
        "experiences": experiences,
        "at_risk": [summary(c).model_dump(mode="json") for c in at_risk],
        "movers": [m.model_dump() for m in acc.movers],
        "trend": {"weeks": [w.isoformat() for w in weeks], "volume": [c.volume for c in all_stages],
                  "negative_share": [metrics.negative_share(c) for c in all_stages]},
    }


def sum_counts(counts: Iterable[Counts]) -> Counts:
    """The sum of several sets of counters."""
    total = Counts()
    for c in counts:
        total = total.add(c)
    return total


def default_period(newest: date | None, days: int = 28) -> tuple[date, date]:
    """The last ``days`` days up to the newest day with data."""
    until = newest or date.today()
    return until - timedelta(days=days - 1), until
