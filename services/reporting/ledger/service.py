"""The customer asset ledger: customers and value gained, at risk and lost, per period."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache

from pydantic import BaseModel, Field
from sqlalchemy import BindParameter, ColumnElement, Executable, and_, bindparam, case, func, select, union_all
from sqlalchemy.orm import Session, aliased

from services.journey.models import AssetDay, AssetHour, AssetPoint, Customer, CustomerEventRecord, StateChange
from services.reporting.periods import Period
from services.reporting.rollup_reads import segment_customers


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


def _unmerged() -> ColumnElement[bool]:
    """Not merged into another customer. Written so that planners do not pick the ``merged_into`` index for it:
    nearly every customer matches, and driving a join from that index visits them all (seen on SQLite without
    statistics)."""
    return func.coalesce(Customer.merged_into, "") == ""


@dataclass
class _Now:
    """What every instant's states start from: the current states and values, and who was merged into whom."""

    totals: dict[str, tuple[int, float]]
    roots: dict[str, str]


def _now(session: Session, segment: str | None) -> _Now:
    alive = [_unmerged()] + ([Customer.segment == segment] if segment is not None else [])
    totals = {str(state): (int(n), float(v or 0.0)) for state, n, v in session.execute(
        select(Customer.state, func.count(), func.sum(Customer.value)).where(*alive).group_by(Customer.state))}
    return _Now(totals, merged_roots(session))


@lru_cache(maxsize=2)
def _deltas_statement(with_hours: bool) -> Executable:
    """Sums of the asset deltas per state: the UTC days before ``day``, and (``with_hours``) the hours from
    ``midnight`` until ``at``."""
    days = select(AssetDay.state, func.sum(AssetDay.customers), func.sum(AssetDay.value)) \
        .where(AssetDay.day < bindparam("day")).group_by(AssetDay.state)
    if not with_hours:
        return days
    hours = select(AssetHour.state, func.sum(AssetHour.customers), func.sum(AssetHour.value)) \
        .where(AssetHour.hour >= bindparam("midnight"), AssetHour.hour < bindparam("at")).group_by(AssetHour.state)
    return union_all(days, hours)


@lru_cache(maxsize=1)
def _points_statement() -> Executable:
    """The asset points from ``since`` until ``until``, each with the point it follows (state and value, or none for
    a customer's first): what the minutes after a whole hour add to its deltas."""
    point, before = aliased(AssetPoint), aliased(AssetPoint)
    return (select(point.state, point.value, before.state, before.value)
            .outerjoin(before, and_(before.customer_id == point.customer_id, before.seq == point.seq - 1))
            .where(point.at >= bindparam("since"), point.at < bindparam("until")))


def _from_deltas(session: Session, at: datetime) -> dict[str, tuple[int, float]]:
    """States at any instant from journey's asset ledger: the deltas of the UTC days before it and of its day's
    whole hours before it, then, when ``at`` is not a whole hour, the asset points of the minutes in between (the
    index ``ix_customer_asset_points_at``), each adding its customer to its state and taking them out of the
    state of the point before."""
    at = at.astimezone(UTC)
    hour = at.replace(minute=0, second=0, microsecond=0)
    midnight = datetime.combine(at.date(), time.min, tzinfo=UTC)
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    rows = session.execute(_deltas_statement(hour > midnight), {"day": at.date(), "midnight": midnight, "at": hour})
    for state, n, v in rows:
        totals[str(state)][0] += int(n or 0)
        totals[str(state)][1] += float(v or 0.0)
    if at > hour:
        for state, value, before, before_value in session.execute(_points_statement(), {"since": hour, "until": at}):
            totals[str(state)][0] += 1
            totals[str(state)][1] += float(value)
            if before is not None:
                totals[str(before)][0] -= 1
                totals[str(before)][1] -= float(before_value)
    return {k: (int(n), round(v, 6) + 0.0) for k, (n, v) in totals.items() if n > 0}


def states_at(session: Session, at: datetime, *, segment: str | None = None, now: _Now | None = None
              ) -> dict[str, tuple[int, float]]:
    """(customers, value) per asset state at an instant, for the surviving customers (of a segment).

    Company-wide, a sum of journey's asset ledger (``_from_deltas``): the deltas per UTC day and hour
    (``asset_days``, ``asset_hours``) and, for an instant that is not a whole UTC hour (a period end in a :30/:45
    zone), the asset points of the minutes after the hour: a few hundred rows, whatever the history. For a segment
    (the ledger is company-wide), index-backed: the current states and values (one aggregate over a covering index
    of ``customers``), corrected, in SQL, for the customers whose state changed at or after ``at`` (a range of a
    covering index of the changes, then primary-key reads), so the correction grows with the activity since
    ``at``, not with the history; a customer first seen after ``at`` is taken away by that correction (their first
    change comes from no state). The value of the few customers with CRM events at or after ``at`` is replayed
    from their events.
    """
    if segment is None:
        return _from_deltas(session, at)
    now = now or _now(session, segment)
    alive = [_unmerged()] + ([Customer.segment == segment] if segment is not None else [])
    totals: dict[str | None, list[float]] = defaultdict(lambda: [0, 0.0])

    def add(state: str | None, n: int, value: float | None) -> None:
        totals[state][0] += n
        totals[state][1] += float(value or 0.0)

    for state, (n, v) in now.totals.items():
        add(state, n, v)
    roots = now.roots
    revalued = sorted({roots.get(str(c), str(c)) for c in session.scalars(
        select(CustomerEventRecord.customer_id).where(CustomerEventRecord.occurred_at >= at).distinct())})
    firsts = (select(StateChange.customer_id.label("cid"), func.min(StateChange.seq).label("seq"))
              .with_hint(StateChange, "INDEXED BY ix_customer_state_changes_at_first", "sqlite")
              .where(StateChange.at >= at).group_by(StateChange.customer_id).subquery())
    then = (select(Customer.id, Customer.state, StateChange.from_state, Customer.value)
            .join(firsts, firsts.c.cid == Customer.id)
            .join(StateChange, and_(StateChange.customer_id == firsts.c.cid, StateChange.seq == firsts.c.seq))
            .where(*alive))
    grouped = then.where(Customer.id.not_in(revalued)) if revalued else then
    moved = grouped.subquery()
    for state, before, n, v in session.execute(
            select(moved.c.state, moved.c.from_state, func.count(), func.sum(moved.c.value))
            .group_by(moved.c.state, moved.c.from_state)):
        add(state, -int(n), -(v or 0.0))
        add(before, int(n), v)  # before None: the customer had no state yet at ``at``
    for chunk in (revalued[i:i + 500] for i in range(0, len(revalued), 500)):
        changed_then = {cid: before for cid, _, before, _ in session.execute(then.where(Customer.id.in_(chunk)))}
        current = session.execute(select(Customer.id, Customer.state, Customer.value)
                                  .where(*alive, Customer.id.in_(chunk))).all()
        values = _value_as_of(session, [c for c, _, _ in current], at)
        for cid, state, value in current:
            add(state, -1, -(value or 0.0))
            add(changed_then.get(cid, state) if cid in changed_then else state, 1, values.get(cid, 0.0))
    return {k: (int(n), round(v, 6)) for k, (n, v) in totals.items() if k is not None and n > 0}


def ledger(session: Session, period: Period, *, segment: str | None = None) -> Ledger:
    """The ledger of one period (of the customers of one segment, when given)."""
    return ledgers(session, [period], segment=segment)[0]


def ledgers(session: Session, periods: Sequence[Period], *, segment: str | None = None) -> list[Ledger]:
    """The ledgers of several periods, sharing the reads they have in common."""
    now = None if segment is None else _now(session, segment)
    return [_ledger(session, p, segment, now) for p in periods]


@lru_cache(maxsize=2)
def _period_statements(segmented: bool) -> tuple[Executable, Executable, Executable]:
    """The reads of a period's flows, bound to ``start`` and ``end`` (and ``segment``): new customers with the value
    added and taken away; how many customers were lost; and the losses per last negative stage. Built once:
    building them cost more than running them."""
    start: BindParameter[datetime] = bindparam("start")
    end: BindParameter[datetime] = bindparam("end")
    in_period = [CustomerEventRecord.occurred_at >= start, CustomerEventRecord.occurred_at < end]
    changes = [StateChange.to_state == "lost", StateChange.at >= start, StateChange.at < end]
    if segmented:
        members = segment_customers(bindparam("segment"))
        in_period.append(CustomerEventRecord.customer_id.in_(members))
        changes.append(StateChange.customer_id.in_(members))
    flows = select(
        func.count(case((CustomerEventRecord.kind == "created", 1))),
        func.coalesce(func.sum(case((CustomerEventRecord.value_delta > 0, CustomerEventRecord.value_delta))), 0.0),
        func.coalesce(func.sum(case((CustomerEventRecord.value_delta < 0, CustomerEventRecord.value_delta))), 0.0),
    ).where(*in_period)
    # Merged customers are few: leaving their ids out is cheaper than joining every loss to ``customers``.
    changes.append(StateChange.customer_id.not_in(select(Customer.id).where(Customer.merged_into > "")))
    lost = select(func.count(StateChange.customer_id.distinct())).where(*changes)
    stages = select(StateChange.last_negative_stage, func.count()).where(*changes) \
        .group_by(StateChange.last_negative_stage)
    return flows, lost, stages


def _ledger(session: Session, period: Period, segment: str | None, now: _Now | None) -> Ledger:
    start, end = period.start(), period.end()
    flows, lost, by_stage = _period_statements(segment is not None)
    params = {"start": start, "end": end, **({"segment": segment} if segment is not None else {})}
    created, gained_value, lost_value = session.execute(flows, params).one()
    lost_customers = session.execute(lost, params).scalar_one()
    loss_stages: Counter[str] = Counter()
    for stage, n in session.execute(by_stage, params):
        loss_stages[stage or "unknown"] += int(n)
    states = states_at(session, end, segment=segment, now=now)
    at_risk, growing = states.get("at_risk", (0, 0.0)), states.get("growing", (0, 0.0))
    return Ledger(
        since=period.since.isoformat(),
        until=period.until.isoformat(),
        gained=LedgerLine(customers=int(created or 0), value=float(gained_value or 0.0)),
        lost=LedgerLine(customers=int(lost_customers or 0), value=float(-(lost_value or 0.0)) or 0.0),  # no -0
        at_risk=LedgerLine(customers=at_risk[0], value=at_risk[1]),
        growing=LedgerLine(customers=growing[0], value=growing[1]),
        loss_stages=dict(loss_stages),
        states={state: n for state, (n, _) in sorted(states.items())},
    )
