"""phrase examples index

An index of the phrase rollup by (stage, phrase, day), so that the stage report finds the example voices of a top
phrase (its most negative and its newest over the period) in two short index walks per phrase, instead of reading
every day row of every top phrase.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 10:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_stage_day_phrases_pair_day', 'stage_day_phrases', ['stage_id', 'phrase', 'day'])


def downgrade() -> None:
    op.drop_index('ix_stage_day_phrases_pair_day', table_name='stage_day_phrases')
