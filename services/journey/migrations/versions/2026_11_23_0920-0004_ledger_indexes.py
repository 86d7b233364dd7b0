"""ledger indexes

Indexes for the asset ledger's reads (found with EXPLAIN QUERY PLAN on a store of 50,000 customers): a
covering index for the count and value of customers per state, and a covering index for the first state
change of each customer after an instant.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 09:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_customers_state_alive', 'customers', ['state', 'merged_into', 'first_seen_at', 'value'])
    op.create_index('ix_customer_state_changes_at_first', 'customer_state_changes',
                    ['at', 'customer_id', 'seq', 'from_state'])


def downgrade() -> None:
    op.drop_index('ix_customer_state_changes_at_first', table_name='customer_state_changes')
    op.drop_index('ix_customers_state_alive', table_name='customers')
