"""asset ledger deltas

Each surviving customer's asset timeline (``customer_asset_points``: from an instant on, a state and a value)
and what those timelines add to and take from each state per UTC day and hour (``asset_days``,
``asset_hours``), so the customers in each state at an instant are a sum of a few hundred rows. Backfilled from
the stored state changes and CRM events (``services/journey/customers/ledger.py``).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db
from services.journey.customers.ledger import backfill

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'customer_asset_points',
        sa.Column('customer_id', sa.String(length=40), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('customer_id', 'seq', name=op.f('pk_customer_asset_points')),
    )
    op.create_table(
        'asset_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('customers', sa.Integer(), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'state', name=op.f('pk_asset_days')),
    )
    op.create_table(
        'asset_hours',
        sa.Column('hour', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('customers', sa.Integer(), nullable=False),
        sa.Column('value', sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'state', name=op.f('pk_asset_hours')),
    )
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table('asset_hours')
    op.drop_table('asset_days')
    op.drop_table('customer_asset_points')
