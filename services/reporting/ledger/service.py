"""The customer asset ledger: customers and value gained, at risk and lost, per period."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session, aliased

from services.journey.models import Customer, CustomerEventRecord, StateChange
from services.reporting.periods import Period


class LedgerLine(BaseModel):
    """How many customers, and how much value."""

    customers: int
    value: float


class Ledger(BaseModel):
    """One period of the asset ledger."""

    since: str
    until: str
    gained: LedgerLine = Field(description="New customers in the period; value = all value added (new customers, "
                               "purchases, upgrades, renewals with a higher value).")
    lost: LedgerLine = Field(description="Customers lost in the period; value = all value taken away "
                             "(cancellations and downgrades).")
    at_risk: LedgerLine = Field(description="Customers at risk at the end of the period, and their value.")
    growing: LedgerLine = Field(description="Customers growing at the end of the period, and their value.")
    loss_stages: dict[str, int] = Field(description="For customers lost in the period: the journey stage of their "
                                        "last negative voice before leaving (\"unknown\" when they had none).")
    states: dict[str, int] = Field(description="Customers per asset state at the end of the period.")


def merged_roots(session: Session) -> dict[str, str]:
    """Each merged customer id → the customer it now belongs to (following chains)."""
    parent = {str(c): str(m) for c, m in session.execute(
        select(Customer.id, Customer.merged_into).where(Customer.merged_into.is_not(None)))}
    roots = {}
    for child in parent:
        root, hops = child, 0
        while root in parent and hops < 50:
            root, hops = parent[root], hops + 1
        roots[child] = root
    return roots


def _value_as_of(session: Session, customer_ids: list[str], at: datetime) -> dict[str, float]:
    values: dict[str, float] = {}
    if not customer_ids:
        return values
    roots = merged_roots(session)
    wanted = set(customer_ids)
    members = list(wanted | {child for child, root in roots.items() if root in wanted})
    rows = session.execute(
        select(CustomerEventRecord.customer_id, CustomerEventRecord.value, CustomerEventRecord.value_delta)
        .where(CustomerEventRecord.customer_id.in_(members), CustomerEventRecord.occurred_at < at)
        .order_by(CustomerEventRecord.occurred_at, CustomerEventRecord.event_id)
    )
    for member, value, delta in rows:
        cid = roots.get(member, member)
        values[cid] = value if value is not None else values.get(cid, 0.0) + delta
    return values


def states_at(session: Session, at: datetime) -> dict[str, str]:
    """Each (unmerged) customer's asset state at an instant."""
    latest = aliased(StateChange)
    last_seq = (select(func.max(latest.seq)).where(latest.customer_id == StateChange.customer_id, latest.at < at)
                .correlate(StateChange).scalar_subquery())
    rows = session.execute(
        select(StateChange.customer_id, StateChange.to_state)
        .join(Customer, and_(Customer.id == StateChange.customer_id, Customer.merged_into.is_(None)))
        .where(StateChange.seq == last_seq)
    )
    return {str(cid): str(state) for cid, state in rows}


def ledger(session: Session, period: Period) -> Ledger:
    """The ledger of one period."""
    start, end = period.start(), period.end()
    in_period = and_(CustomerEventRecord.occurred_at >= start, CustomerEventRecord.occurred_at < end)
    created = session.scalar(select(func.count()).where(in_period, CustomerEventRecord.kind == "created")) or 0
    gained_value = session.scalar(select(func.coalesce(func.sum(CustomerEventRecord.value_delta), 0.0))
                                  .where(in_period, CustomerEventRecord.value_delta > 0)) or 0.0
    lost_value = session.scalar(select(func.coalesce(func.sum(CustomerEventRecord.value_delta), 0.0))
                                .where(in_period, CustomerEventRecord.value_delta < 0)) or 0.0
    losses = session.execute(
        select(StateChange.customer_id, StateChange.last_negative_stage)
        .join(Customer, and_(Customer.id == StateChange.customer_id, Customer.merged_into.is_(None)))
        .where(StateChange.to_state == "lost", StateChange.at >= start, StateChange.at < end)
    ).all()
    states = states_at(session, end)
    at_risk = [c for c, s in states.items() if s == "at_risk"]
    growing = [c for c, s in states.items() if s == "growing"]
    values = _value_as_of(session, at_risk + growing, end)
    return Ledger(
        since=period.since.isoformat(),
        until=period.until.isoformat(),
        gained=LedgerLine(customers=int(created), value=float(gained_value)),
        lost=LedgerLine(customers=len({c for c, _ in losses}), value=float(-lost_value) or 0.0),  # no -0
        at_risk=LedgerLine(customers=len(at_risk), value=sum(values.get(c, 0.0) for c in at_risk)),
        growing=LedgerLine(customers=len(growing), value=sum(values.get(c, 0.0) for c in growing)),
        loss_stages=dict(Counter(stage or "unknown" for _, stage in losses)),
        states=dict(Counter(states.values())),
    )
