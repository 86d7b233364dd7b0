"""clustered rollups

On SQLite, the rollup tables (stage, experience and asset-ledger rows per day and hour, and the phrase rollups)
are rebuilt ``WITHOUT ROWID``: their rows are stored in primary-key order, (day or hour, key...), in one b-tree.
A report reads a range of days or hours; with a rowid, each row of the range was found in the primary key's index
and then looked up in the table. Journey's upserts also write one b-tree fewer. PostgreSQL is unchanged.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ROLLUPS = ('stage_days', 'experience_days', 'stage_hours', 'experience_hours', 'stage_day_phrases',
           'stage_hour_phrases', 'asset_days', 'asset_hours')


def _rebuild(with_rowid: bool) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for table in ROLLUPS:
        # Batch mode copies the table into a new one made from its reflected columns, keys and indexes.
        with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_with_rowid': with_rowid}):
            pass


def upgrade() -> None:
    _rebuild(with_rowid=False)


def downgrade() -> None:
    _rebuild(with_rowid=True)
