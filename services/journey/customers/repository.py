"""SQL of a customer's history and state transitions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.journey.models import CustomerEventRecord, FeedbackItem, StateChange


class CustomerRepository:
    """What the asset rules read about customers, and the transitions they write."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def feedback_of(self, members: Sequence[str]) -> Sequence[FeedbackItem]:
        """Every voice of these customer ids, oldest first."""
        stmt = (select(FeedbackItem).where(FeedbackItem.customer_id.in_(members))
                .order_by(FeedbackItem.occurred_at, FeedbackItem.feedback_id))
        return self.session.scalars(stmt).all()

    def events_of(self, members: Sequence[str]) -> Sequence[CustomerEventRecord]:
        """Every CRM event of these customer ids, oldest first."""
        stmt = (select(CustomerEventRecord).where(CustomerEventRecord.customer_id.in_(members))
                .order_by(CustomerEventRecord.occurred_at, CustomerEventRecord.event_id))
        return self.session.scalars(stmt).all()

    def transitions_before(self, customer_id: str, before: datetime) -> Sequence[StateChange]:
        """Recorded transitions earlier than ``before``, in order."""
        stmt = select(StateChange).where(StateChange.customer_id == customer_id, StateChange.at < before)
        return self.session.scalars(stmt.order_by(StateChange.seq)).all()

    def replace_transitions_from(self, customer_id: str, first_seq: int, changes: Sequence[StateChange]) -> None:
        """Drop transitions from ``first_seq`` on and write ``changes`` in their place."""
        self.session.execute(
            delete(StateChange).where(StateChange.customer_id == customer_id, StateChange.seq >= first_seq)
        )
        self.session.add_all(changes)

    def event_exists(self, provider: str, external_id: str) -> bool:
        """Whether this CRM change was stored before."""
        stmt = select(CustomerEventRecord.event_id).where(
            CustomerEventRecord.provider == provider, CustomerEventRecord.external_id == external_id
        )
        return self.session.scalar(stmt) is not None
