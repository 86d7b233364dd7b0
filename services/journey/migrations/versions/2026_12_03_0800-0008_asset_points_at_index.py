"""asset points at index

An index of the customers' asset points by time, so that the states at an instant that is not a whole UTC hour
(a period ending at midnight in a :30/:45 zone such as Asia/Kolkata) are the asset deltas up to the hour before
it plus the few points in the minutes between, instead of a walk of every state change since the instant.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 08:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_customer_asset_points_at', 'customer_asset_points', ['at'])


def downgrade() -> None:
    op.drop_index('ix_customer_asset_points_at', table_name='customer_asset_points')
