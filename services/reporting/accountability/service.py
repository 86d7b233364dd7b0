"""The accountability report: what changed since a date, for the weekly meeting — with evidence."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from services.journey import metrics
from services.journey.metrics import Counts
from services.journey.models import AlertRecord, Customer, StateChange
from services.reporting.overview.service import Overview, overview
from services.reporting.periods import Period
from services.reporting.rollup_reads import counts_by_bucket, segment_customers
from shared.contracts import JourneyMap


class TargetLine(BaseModel):
    """A priority experience, now and before."""

    id: str
    name: str
    owner: str | None
    metric: str
    target: float
    value: float | None
    previous_value: float | None
    status: str
    previous_status: str
    changed: bool


class Mover(BaseModel):
    """A stage whose negative share moved most."""

    stage: str
    negative_share: float | None
    previous_negative_share: float | None
    change: float
    volume: int


class NewRisk(BaseModel):
    """A customer who became at risk or was lost in the period."""

    customer_id: str
    name: str | None
    state: str
    value: float | None
    at: str
    reasons: list[str]


class AccountabilityReport(BaseModel):
    """What changed in the period against the one before."""

    since: str
    until: str
    overview: Overview
    targets: list[TargetLine]
    movers: list[Mover]
    new_risks: list[NewRisk]
    alerts: dict[str, int]


def report(session: Session, period: Period, journey_map: JourneyMap, *, movers: int = 3, risks: int = 10,
           segment: str | None = None) -> AccountabilityReport:
    """Compute the report (for the voices and customers of one segment, when given; alerts are company-wide)."""
    before = period.previous()
    spans = [period.span(), before.span()]
    now_pe, before_pe = counts_by_bucket(session, "experience", spans, segment=segment)
    targets = []
    for pe in journey_map.priority_experiences:
        if pe.metric not in metrics.METRICS:
            continue
        a = metrics.reliability(pe.metric, now_pe.get(pe.id, Counts()), pe.target)
        b = metrics.reliability(pe.metric, before_pe.get(pe.id, Counts()), pe.target)
        targets.append(TargetLine(id=pe.id, name=pe.name, owner=pe.owner, metric=pe.metric, target=pe.target,
                                  value=a.value, previous_value=b.value, status=a.status.value,
                                  previous_status=b.status.value, changed=a.status != b.status))
    now_st, before_st = counts_by_bucket(session, "stage", spans, segment=segment)
    moves = []
    for stage in journey_map.stage_ids():
        a_share = metrics.negative_share(now_st.get(stage, Counts()))
        b_share = metrics.negative_share(before_st.get(stage, Counts()))
        if a_share is None:
            continue
        moves.append(Mover(stage=stage, negative_share=round(a_share, 4),
                           previous_negative_share=None if b_share is None else round(b_share, 4),
                           change=round(a_share - (b_share or 0.0), 4), volume=now_st[stage].volume))
    moves.sort(key=lambda m: abs(m.change), reverse=True)
    risk_filter = [StateChange.to_state.in_(("at_risk", "lost")), StateChange.at >= period.start(),
                   StateChange.at < period.end(), Customer.merged_into.is_(None)]
    if segment is not None:
        risk_filter.append(Customer.id.in_(segment_customers(segment)))
    rows = session.execute(
        select(StateChange, Customer).join(Customer, Customer.id == StateChange.customer_id).where(*risk_filter)
    ).all()
    latest: dict[str, tuple[StateChange, Customer]] = {}
    for change, customer in rows:
        if customer.id not in latest or change.at > latest[customer.id][0].at:
            latest[customer.id] = (change, customer)
    new_risks = sorted(
        (NewRisk(customer_id=c.id, name=c.display_name, state=ch.to_state, value=ch.value if ch.to_state == "lost"
                 else c.value, at=ch.at.isoformat(), reasons=[r["detail"] for r in c.reasons])
         for ch, c in latest.values()),
        key=lambda r: (-(r.value or 0.0), r.customer_id))[:risks]
    kinds = Counter(session.scalars(select(AlertRecord.kind).where(
        AlertRecord.occurred_at >= period.start(), AlertRecord.occurred_at < period.end())))
    return AccountabilityReport(since=period.since.isoformat(), until=period.until.isoformat(),
                                overview=overview(session, period, segment=segment), targets=targets,
                                movers=moves[:movers],
                                new_risks=new_risks, alerts=dict(kinds))


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def markdown(r: AccountabilityReport) -> str:
    """The report as Markdown, for the meeting's notes."""
    o = r.overview.current
    c = r.overview.change
    lines = [
        f"# Customer accountability report: {r.since} to {r.until}", "",
        "## Customers as assets", "",
        f"- Gained: {o.customers.gained.customers} customers, {_num(o.customers.gained.value, 0)} in value",
        f"- Lost: {o.customers.lost.customers} customers, {_num(o.customers.lost.value, 0)} in value"
        + (f" (last pain: {', '.join(f'{k} {v}' for k, v in sorted(o.customers.loss_stages.items()))})"
           if o.customers.loss_stages else ""),
        f"- At risk now: {o.customers.at_risk.customers} customers, {_num(o.customers.at_risk.value, 0)} in value",
        "", "## Voices", "",
        f"- {o.voices.volume} voices ({_num(c['volume'], 0)} vs the period before); negative share "
        f"{_num(o.voices.negative_share)}; NPS {_num(o.voices.nps, 1)}; CSAT {_num(o.voices.csat, 1)}%",
        "", "## Priority experiences", "",
        "| experience | owner | metric | target | now | before | status |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in r.targets:
        flag = f"**{t.status}** (was {t.previous_status})" if t.changed else t.status
        lines.append(f"| {t.name} | {t.owner or ''} | {t.metric} | {t.target} | {_num(t.value)} | "
                     f"{_num(t.previous_value)} | {flag} |")
    lines += ["", "## Biggest movers", ""]
    lines += [f"- {m.stage}: negative share {_num(m.previous_negative_share)} → {_num(m.negative_share)} "
              f"({m.change:+.2f}, {m.volume} voices)" for m in r.movers] or ["- none"]
    lines += ["", "## New risks", ""]
    lines += [f"- {n.name or n.customer_id} ({n.state}, value {_num(n.value, 0)}, {n.at[:10]}): "
              f"{'; '.join(n.reasons) or 'no reason recorded'}" for n in r.new_risks] or ["- none"]
    lines += ["", "## Alerts raised", ""]
    lines += [f"- {kind}: {count}" for kind, count in sorted(r.alerts.items())] or ["- none"]
    return "\n".join(lines) + "\n"
