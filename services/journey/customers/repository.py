"""SQL of a customer's history and state transitions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from services.journey.models import Customer, CustomerEventRecord, FeedbackItem, StateChange


class CustomerRepository:
    """What the asset rules read about customers, and the transitions they write."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def customers(self, ids: Sequence[str]) -> Sequence[Customer]:
        """These customer rows."""
        return self.session.scalars(select(Customer).where(Customer.id.in_(ids))).all()

    def members_of(self, roots: Sequence[str]) -> dict[str, list[str]]:
        """Each root customer with every customer merged into it (following chains)."""
        owner = {r: r for r in roots}
        frontier = list(roots)
        while frontier:
            rows = self.session.execute(select(Customer.id, Customer.merged_into)
                                        .where(Customer.merged_into.in_(frontier))).all()
            for child, parent in rows:
                owner[child] = owner[str(parent)]
            frontier = [child for child, _ in rows]
        out: dict[str, list[str]] = {r: [] for r in roots}
        for member, root in owner.items():
            out[root].append(member)
        return out

    def feedback_by_customer(self, members: Sequence[str]) -> dict[str, list[FeedbackItem]]:
        """Every voice of these customer ids, grouped by customer id."""
        out: dict[str, list[FeedbackItem]] = {}
        for item in self.session.scalars(select(FeedbackItem).where(FeedbackItem.customer_id.in_(members))):
            out.setdefault(item.customer_id or "", []).append(item)
        return out

    def events_by_customer(self, members: Sequence[str]) -> dict[str, list[CustomerEventRecord]]:
        """Every CRM event of these customer ids, grouped by customer id."""
        out: dict[str, list[CustomerEventRecord]] = {}
        stmt = select(CustomerEventRecord).where(CustomerEventRecord.customer_id.in_(members))
        for event in self.session.scalars(stmt):
            out.setdefault(event.customer_id, []).append(event)
        return out

    def delete_transitions_from(self, customer_id: str, first_seq: int) -> None:
        """Drop a customer's transitions from ``first_seq`` on."""
        self.session.execute(
            delete(StateChange).where(StateChange.customer_id == customer_id, StateChange.seq >= first_seq)
        )

    def add_transitions(self, changes: Sequence[StateChange]) -> None:
        """Record transitions."""
        self.session.add_all(changes)

    def existing_events(self, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these (provider, external_id) CRM changes were stored before."""
        wanted = list(set(keys))
        if not wanted:
            return set()
        rows = self.session.execute(select(CustomerEventRecord.provider, CustomerEventRecord.external_id).where(
            tuple_(CustomerEventRecord.provider, CustomerEventRecord.external_id).in_(wanted)))
        return {(p, e) for p, e in rows}

    def transitions_of(self, customer_ids: Sequence[str]) -> dict[str, list[StateChange]]:
        """Recorded transitions of these customers, in order."""
        out: dict[str, list[StateChange]] = {c: [] for c in customer_ids}
        stmt = select(StateChange).where(StateChange.customer_id.in_(customer_ids)).order_by(StateChange.seq)
        for change in self.session.scalars(stmt):
            out[change.customer_id].append(change)
        return out
