"""ledger period indexes

Covering indexes for the two reads of a ledger period that remain once the states come from the asset deltas:
the value gained and lost from CRM events in the period, and the customers lost in it (found with EXPLAIN QUERY
PLAN on a store of 50,000 customers: both read the rows of the period from the table).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_customer_events_occurred_value', 'customer_events', ['occurred_at', 'kind', 'value_delta'])
    op.create_index('ix_customer_state_changes_to_at', 'customer_state_changes',
                    ['to_state', 'at', 'customer_id', 'last_negative_stage'])


def downgrade() -> None:
    op.drop_index('ix_customer_state_changes_to_at', table_name='customer_state_changes')
    op.drop_index('ix_customer_events_occurred_value', table_name='customer_events')
