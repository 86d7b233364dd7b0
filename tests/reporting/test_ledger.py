"""The asset states at an instant equal a replay of the whole history: company-wide at whole hours from journey's
asset deltas (per day and hour), otherwise (a segment, a :30/:45 instant) read through indexes."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.cli.migrate import upgrade_schemas
from services.journey.customers.ledger import AssetLedgerRepository
from services.journey.models import AssetPoint, Customer, CustomerEventRecord, StateChange
from services.reporting.ledger.service import merged_roots, states_at
from shared.db import create_db_engine, make_session_factory
from shared.settings import ServiceSettings
from tests.conftest import Database
from tests.journey import dataset
from tests.journey.test_customer_story import apply_all, in_time_order


@pytest.fixture(scope="module")
def store(module_database: Database) -> sessionmaker[Session]:
    settings = ServiceSettings(data_dir=module_database.data_dir, database_url=module_database.url)
    upgrade_schemas(settings, ["journey"])
    sessions = make_session_factory(create_db_engine(settings.database_url_for("journey")))
    apply_all(sessions, in_time_order(dataset.build()))
    return sessions


def replayed(session: Session, at: datetime, segment: str | None) -> dict[str, tuple[int, float]]:
    """Every customer's last state before ``at`` and their value then, from the full history."""
    roots = merged_roots(session)
    alive = {c.id for c in session.scalars(select(Customer).where(Customer.merged_into.is_(None)))
             if segment is None or c.segment == segment}
    last: dict[str, str] = {}
    for change in session.scalars(select(StateChange).where(StateChange.at < at)
                                  .order_by(StateChange.customer_id, StateChange.seq)):
        last[change.customer_id] = change.to_state
    values: dict[str, float] = {}
    for ev in session.scalars(select(CustomerEventRecord).where(CustomerEventRecord.occurred_at < at)
                              .order_by(CustomerEventRecord.occurred_at, CustomerEventRecord.event_id)):
        cid = roots.get(ev.customer_id, ev.customer_id)
        values[cid] = ev.value if ev.value is not None else values.get(cid, 0.0) + ev.value_delta
    out: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for cid, state in last.items():
        if cid in alive:
            out[state][0] += 1
            out[state][1] += values.get(cid, 0.0)
    return {k: (int(n), v) for k, (n, v) in out.items()}


@pytest.mark.parametrize("when", ["2026-07-15", "2026-08-20", "2026-09-10", "2026-10-01", "2026-10-20",
                                  "2027-01-01", "2026-07-03T09:00", "2026-08-20T13:00", "2026-09-10T05:00",
                                  "2026-10-15T08:00", "2026-10-20T10:30", "2026-09-01T04:15"])
@pytest.mark.parametrize("segment", [None, "enterprise"])
def test_states_at_an_instant_match_a_replay(store: sessionmaker[Session], when: str, segment: str | None) -> None:
    at = datetime.fromisoformat(when).replace(tzinfo=UTC)
    with store() as s:
        fast, slow = states_at(s, at, segment=segment), replayed(s, at, segment)
    assert {k: n for k, (n, _) in fast.items()} == {k: n for k, (n, _) in slow.items()}
    for state, (_, value) in slow.items():
        assert fast[state][1] == pytest.approx(value), state
    assert sum(n for n, _ in fast.values()) > 0


def test_states_within_an_hour_of_changes_match_a_replay(store: sessionmaker[Session]) -> None:
    """Instants just before and just after state changes and CRM events, inside their hours: the deltas up to the
    hour plus the asset points of the minutes after it (``_from_deltas``) must equal the replay at each."""
    with store() as s:
        moments = sorted({*s.scalars(select(StateChange.at)), *s.scalars(select(CustomerEventRecord.occurred_at))})
        instants = [m + offset for m in moments[::3] for offset in (timedelta(0), timedelta(microseconds=1))
                    if (m + offset).replace(minute=0, second=0, microsecond=0) != m + offset]
        assert len(instants) > 10
        for at in instants:
            fast, slow = states_at(s, at), replayed(s, at, None)
            assert {k: n for k, (n, _) in fast.items()} == {k: n for k, (n, _) in slow.items()}, at
            for state, (_, value) in slow.items():
                assert fast[state][1] == pytest.approx(value), (at, state)


def test_the_asset_deltas_hold_one_timeline_per_surviving_customer(store: sessionmaker[Session]) -> None:
    with store() as s:
        alive = set(s.scalars(select(Customer.id).where(Customer.merged_into.is_(None))))
        merged = set(s.scalars(select(Customer.id).where(Customer.merged_into.is_not(None))))
        with_points = set(s.scalars(select(AssetPoint.customer_id).distinct()))
        stored = AssetLedgerRepository(s).timelines(sorted(with_points))
        points = {cid: [(p.at, p.state, p.value) for p in s.scalars(
            select(AssetPoint).where(AssetPoint.customer_id == cid).order_by(AssetPoint.seq))] for cid in with_points}
    assert merged, "the data set merges customers"
    assert with_points <= alive
    assert points == stored  # what journey kept equals the timelines computed again from the history
