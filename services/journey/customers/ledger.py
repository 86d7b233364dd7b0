"""The asset ledger kept as deltas: how many customers (and how much value) each asset state gains or loses per
UTC day and hour, so the states at an instant are a sum of a few hundred rows instead of a walk of the history.

Each surviving customer's timeline (``customer_asset_points``) is a list of points: from ``at`` on, the customer
is in ``state`` with ``value``. A point starts at every state change (``customer_state_changes``) and at every CRM
event after the first one; the value follows the CRM events in (time, id) order (an absolute value replaces the
value, otherwise the delta adds to it), as reporting's ``states_at`` reads them. Before the first state change a
customer is in no state and counts nowhere. Each point adds the customer to its state and takes them out of the
previous point's state, in the day and hour of ``at`` (``asset_days``, ``asset_hours``).

When journey re-assesses a customer, or merges or un-merges them, their timeline is computed again from the stored
changes and events, and the difference with the stored timeline is added to the deltas; a merged customer's
timeline is empty. Migration 0006 (and the reporting bench) fill everything from the stored history with
``backfill``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from services.journey.models import (
    AssetDay,
    AssetHour,
    AssetPoint,
    Customer,
    CustomerEventRecord,
    StateChange,
    utc_hour,
)

Point = tuple[datetime, str, float]
"""From this instant on: (instant, state, value)."""


def timeline(changes: Iterable[tuple[datetime, int, str]], events: Iterable[tuple[datetime, str, float | None, float]]
             ) -> list[Point]:
    """A customer's points from their state changes (at, seq, to_state) and CRM events (occurred_at, event_id,
    value, value_delta)."""
    moves = sorted(changes, key=lambda c: (c[0], c[1]))
    if not moves:
        return []
    crm = sorted(events, key=lambda e: (e[0], e[1]))
    instants = sorted({at for at, _, _ in moves} | {at for at, _, _, _ in crm if at >= moves[0][0]})
    out: list[Point] = []
    state: str | None = None
    value = 0.0
    i = j = 0
    for at in instants:
        while i < len(moves) and moves[i][0] <= at:
            state = moves[i][2]
            i += 1
        while j < len(crm) and crm[j][0] <= at:
            _, _, explicit, delta = crm[j]
            value = explicit if explicit is not None else value + delta
            j += 1
        assert state is not None
        if not out or (out[-1][1], out[-1][2]) != (state, value):
            out.append((at, state, value))
    return out


def deltas(points: Sequence[Point], sign: int = 1) -> Iterable[tuple[datetime, str, int, float]]:
    """(at, state, customers, value) changes a timeline makes, each times ``sign``."""
    previous: Point | None = None
    for point in points:
        if previous is not None:
            yield point[0], previous[1], -sign, -sign * previous[2]
        yield point[0], point[1], sign, sign * point[2]
        previous = point


def _grouped(changes: Iterable[tuple[datetime, str, int, float]]
             ) -> tuple[dict[tuple[date, str], list[float]], dict[tuple[datetime, str], list[float]]]:
    days: dict[tuple[date, str], list[float]] = defaultdict(lambda: [0, 0.0])
    hours: dict[tuple[datetime, str], list[float]] = defaultdict(lambda: [0, 0.0])
    for at, state, n, v in changes:
        at = at.astimezone(UTC)
        for entry in (days[(at.date(), state)], hours[(utc_hour(at), state)]):
            entry[0] += n
            entry[1] += v
    return days, hours


class AssetLedgerRepository:
    """Keeps ``customer_asset_points``, ``asset_days`` and ``asset_hours`` in step with the customers' histories."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert

    def timelines(self, customer_ids: Sequence[str]) -> dict[str, list[Point]]:
        """Each customer's timeline computed from the stored changes and events (empty when merged or unknown)."""
        out: dict[str, list[Point]] = {c: [] for c in customer_ids}
        alive = set(self.session.scalars(select(Customer.id).where(Customer.id.in_(customer_ids),
                                                                   Customer.merged_into.is_(None))))
        roots = _members(self.session, sorted(alive))
        changes: dict[str, list[tuple[datetime, int, str]]] = defaultdict(list)
        for cid, at, seq, to_state in self.session.execute(
                select(StateChange.customer_id, StateChange.at, StateChange.seq, StateChange.to_state)
                .where(StateChange.customer_id.in_(alive))):
            changes[cid].append((at, seq, to_state))
        events: dict[str, list[tuple[datetime, str, float | None, float]]] = defaultdict(list)
        for member, at, eid, value, delta in self.session.execute(
                select(CustomerEventRecord.customer_id, CustomerEventRecord.occurred_at, CustomerEventRecord.event_id,
                       CustomerEventRecord.value, CustomerEventRecord.value_delta)
                .where(CustomerEventRecord.customer_id.in_(list(roots)))):
            events[roots[member]].append((at, eid, value, delta))
        for cid in alive:
            out[cid] = timeline(changes[cid], events[cid])
        return out

    def refresh(self, customer_ids: Iterable[str]) -> None:
        """Recompute these customers' timelines and add the difference to the deltas."""
        ids = sorted(set(customer_ids))
        for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
            self._refresh(chunk)

    def _refresh(self, ids: list[str]) -> None:
        # The difference old -> new is a read-modify-write: lock the customers' rows (in id order, so two writers
        # queue rather than deadlock) so that two transactions refreshing one customer never both add it.
        # SQLite has no row locks; its writers are serialised already.
        self.session.execute(select(Customer.id).where(Customer.id.in_(ids)).order_by(Customer.id).with_for_update())
        new = self.timelines(ids)
        old: dict[str, list[Point]] = defaultdict(list)
        for cid, at, state, value in self.session.execute(
                select(AssetPoint.customer_id, AssetPoint.at, AssetPoint.state, AssetPoint.value)
                .where(AssetPoint.customer_id.in_(ids)).order_by(AssetPoint.customer_id, AssetPoint.seq)):
            old[cid].append((at, state, value))
        changed = [cid for cid in ids if old.get(cid, []) != new[cid]]
        if not changed:
            return
        moves = [d for cid in changed for d in (*deltas(old.get(cid, []), -1), *deltas(new[cid]))]
        days, hours = _grouped(moves)
        self._bump(AssetDay, "day", days)
        self._bump(AssetHour, "hour", hours)
        self.session.execute(delete(AssetPoint).where(AssetPoint.customer_id.in_(changed)))
        rows = [{"customer_id": cid, "seq": seq, "at": at, "state": state, "value": value}
                for cid in changed for seq, (at, state, value) in enumerate(new[cid])]
        if rows:
            self.session.execute(insert(AssetPoint), rows)

    def _bump(self, model: Any, key: str, found: Mapping[tuple[Any, str], list[float]]) -> None:
        rows = [{key: k, "state": state, "customers": int(n), "value": v}
                for (k, state), (n, v) in sorted(found.items()) if n or v]
        if not rows:
            return
        stmt = self._insert(model)
        stmt = stmt.on_conflict_do_update(
            index_elements=[getattr(model, key), model.state],
            set_={"customers": model.customers + stmt.excluded.customers, "value": model.value + stmt.excluded.value})
        self.session.execute(stmt, rows)


def _members(session: Session, roots: Sequence[str]) -> dict[str, str]:
    """Every customer id whose events count for these roots (themselves and those merged into them) → its root."""
    owner = {r: r for r in roots}
    frontier = list(roots)
    while frontier:
        rows = session.execute(select(Customer.id, Customer.merged_into)
                               .where(Customer.merged_into.in_(frontier))).all()
        for child, parent in rows:
            owner[str(child)] = owner[str(parent)]
        frontier = [str(child) for child, _ in rows]
    return owner


def backfill(conn: Connection) -> None:
    """Fill the timelines and deltas of every surviving customer from the stored history (an empty ledger)."""
    session = Session(bind=conn)
    ids = list(session.scalars(select(Customer.id).where(Customer.merged_into.is_(None)).order_by(Customer.id)))
    repo = AssetLedgerRepository(session)
    for chunk in (ids[i:i + 2000] for i in range(0, len(ids), 2000)):
        repo._refresh(chunk)
    session.flush()
