"""What the customer room shows: the story of customers' lives at a glance, from the reporting reads."""

from __future__ import annotations

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
from services.reporting.rollup_reads import stage_totals, weekly
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


def room(session: Session, period: Period, journey_map: JourneyMap, segment: str | None) -> dict[str, Any]:
    """Everything the page renders, as plain data (also embedded as JSON for the charts)."""
    acc = report(session, period, journey_map)
    now = acc.overview.current
    stages: list[dict[str, Any]] = []
    stage_trends: list[dict[str, Any]] = []
    totals = stage_totals(session, period)
    for stage in journey_map.stages:
        c = totals.get(stage.id, Counts())
        share = metrics.negative_share(c)
        trend = weekly(session, stage=stage.id, until=period.until)
        verbatims = session.scalars(
            select(FeedbackItem.text).where(FeedbackItem.stage_id == stage.id,
                                            FeedbackItem.sentiment_label == "negative",
                                            FeedbackItem.occurred_at >= period.start(),
                                            FeedbackItem.occurred_at < period.end(), FeedbackItem.text != "")
            .order_by(FeedbackItem.sentiment_score, FeedbackItem.occurred_at.desc()).limit(VERBATIMS_PER_STAGE)
        ).all()
        stage_trends.append({"trend": {"negative_share": [metrics.negative_share(x) for _, x in trend],
                                       "volume": [x.volume for _, x in trend]}})
        stages.append({
            "id": stage.id, "name": stage.name, "volume": c.volume, "negative_share": share,
            "nps": metrics.nps(c), "health": _health(share), "verbatims": list(verbatims),
            "trend": {"weeks": [w.isoformat() for w, _ in trend],
                      "negative_share": [metrics.negative_share(x) for _, x in trend],
                      "volume": [x.volume for _, x in trend]},
        })
    experiences = []
    for pe, line in zip(journey_map.priority_experiences, acc.targets, strict=False):
        trend = weekly(session, experience=pe.id, until=period.until)
        definition = metrics.METRICS[pe.metric]
        experiences.append({**line.model_dump(), "stage": pe.stage,
                            "trend": {"weeks": [w.isoformat() for w, _ in trend],
                                      "values": [definition.compute(x) for _, x in trend]}})
    risk_filter = [Customer.merged_into.is_(None), Customer.state == "at_risk"]
    if segment:
        risk_filter.append(Customer.segment == segment)
    at_risk = session.scalars(select(Customer).where(and_(*risk_filter))
                              .order_by(func.coalesce(Customer.value, -1.0).desc(), Customer.id).limit(AT_RISK_SHOWN))
    state_filter = [Customer.merged_into.is_(None)] + ([Customer.segment == segment] if segment else [])
    states = {state: (int(n), float(v or 0)) for state, n, v in session.execute(
        select(Customer.state, func.count(), func.sum(Customer.value)).where(and_(*state_filter))
        .group_by(Customer.state))}
    weeks = [w for w, _ in weekly(session, stage=journey_map.stages[0].id, until=period.until)]
    volume_by_week: list[int] = []
    negative_by_week: list[float | None] = []
    for i in range(len(weeks)):
        vol = sum(int(st["trend"]["volume"][i]) for st in stage_trends)
        neg = sum((st["trend"]["negative_share"][i] or 0.0) * st["trend"]["volume"][i] for st in stage_trends)
        volume_by_week.append(vol)
        negative_by_week.append(neg / vol if vol else None)
    return {
        "company": journey_map.company,
        "period": {"since": period.since.isoformat(), "until": period.until.isoformat(), "days": period.days},
        "segment": segment,
        "voices": now.voices.model_dump(),
        "change": acc.overview.change,
        "ledger": now.customers.model_dump(),
        "states": {k: {"customers": n, "value": v} for k, (n, v) in states.items()},
        "stages": stages,
        "experiences": experiences,
        "at_risk": [summary(c).model_dump(mode="json") for c in at_risk],
        "movers": [m.model_dump() for m in acc.movers],
        "trend": {"weeks": [w.isoformat() for w in weeks], "volume": volume_by_week,
                  "negative_share": negative_by_week},
    }


def default_period(newest: date | None, days: int = 28) -> tuple[date, date]:
    """The last ``days`` days up to the newest day with data."""
    until = newest or date.today()
    return until - timedelta(days=days - 1), until
