"""Read queries over customers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from services.journey.models import Customer, CustomerEventRecord, FeedbackItem, StateChange

NO_VALUE = -1.0


@dataclass(frozen=True)
class CustomerFilter:
    """What the caller narrowed the list to."""

    state: str | None = None
    segment: str | None = None
    min_value: float | None = None


class CustomerReadRepository:
    """Customers (never merged ones) in value order, and what a story is made of."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def page(self, flt: CustomerFilter, after: tuple[float, str] | None, limit: int) -> Sequence[Customer]:
        """Up to ``limit`` customers after ``after`` = (value, id), most valuable first."""
        value = func.coalesce(Customer.value, NO_VALUE)
        stmt = select(Customer).where(Customer.merged_into.is_(None))
        if flt.state:
            stmt = stmt.where(Customer.state == flt.state)
        if flt.segment:
            stmt = stmt.where(Customer.segment == flt.segment)
        if flt.min_value is not None:
            stmt = stmt.where(Customer.value >= flt.min_value)
        if after is not None:
            stmt = stmt.where(or_(value < after[0], and_(value == after[0], Customer.id > after[1])))
        return self.session.scalars(stmt.order_by(value.desc(), Customer.id).limit(limit)).all()

    def get(self, customer_id: str) -> Customer | None:
        """One customer."""
        return self.session.get(Customer, customer_id)

    def voices(self, members: Sequence[str], limit: int) -> Sequence[FeedbackItem]:
        """The newest voices of these customer ids."""
        stmt = (select(FeedbackItem).where(FeedbackItem.customer_id.in_(members))
                .order_by(FeedbackItem.occurred_at.desc(), FeedbackItem.feedback_id.desc()).limit(limit))
        return self.session.scalars(stmt).all()

    def events(self, members: Sequence[str], limit: int) -> Sequence[CustomerEventRecord]:
        """The newest CRM events of these customer ids."""
        stmt = (select(CustomerEventRecord).where(CustomerEventRecord.customer_id.in_(members))
                .order_by(CustomerEventRecord.occurred_at.desc()).limit(limit))
        return self.session.scalars(stmt).all()

    def state_history(self, customer_id: str) -> Sequence[StateChange]:
        """Every change of asset state, oldest first."""
        stmt = select(StateChange).where(StateChange.customer_id == customer_id).order_by(StateChange.seq)
        return self.session.scalars(stmt).all()
