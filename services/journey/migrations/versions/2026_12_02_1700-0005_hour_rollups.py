"""hour rollups

Per UTC hour, the counters of each stage and priority experience and the count of each stage's key phrases
(``stage_hours``, ``experience_hours``, ``stage_hour_phrases``): a period whose days are not UTC days (any
``tz`` but UTC) is summed from them at its edges instead of reading the voices there. Backfilled from the
stored items with the rollups' own definition (``Counts.of_item``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 17:00:00
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import shared.db
from services.journey.metrics import Counts

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ('volume', 'negative', 'neutral', 'positive', 'sentiment_points', 'promoters', 'passives', 'detractors',
            'csat_responses', 'csat_satisfied', 'ces_responses', 'ces_total', 'aided', 'unaided')


def _counters() -> list[sa.Column[Any]]:
    return [sa.Column(name, sa.Integer(), server_default='0', nullable=False) for name in COUNTERS]


def upgrade() -> None:
    op.create_table(
        'stage_hours',
        sa.Column('hour', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('stage_id', sa.String(length=64), nullable=False),
        *_counters(),
        sa.PrimaryKeyConstraint('hour', 'stage_id', name=op.f('pk_stage_hours')),
    )
    op.create_table(
        'experience_hours',
        sa.Column('hour', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('experience_id', sa.String(length=64), nullable=False),
        *_counters(),
        sa.PrimaryKeyConstraint('hour', 'experience_id', name=op.f('pk_experience_hours')),
    )
    op.create_table(
        'stage_hour_phrases',
        sa.Column('hour', shared.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column('stage_id', sa.String(length=64), nullable=False),
        sa.Column('phrase', sa.String(length=200), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('negative', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('hour', 'stage_id', 'phrase', name=op.f('pk_stage_hour_phrases')),
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table('stage_hour_phrases')
    op.drop_table('experience_hours')
    op.drop_table('stage_hours')


def _backfill(conn: sa.Connection) -> None:
    """The hour rows of the stored items, by the rule journey applies as voices arrive."""
    items = sa.table('feedback_items', sa.column('occurred_at', shared.db.UTCDateTime()), sa.column('stage_id'),
                     sa.column('experiences', shared.db.JSONType), sa.column('sentiment_label'),
                     sa.column('sentiment_score'), sa.column('nps'), sa.column('csat'), sa.column('ces'),
                     sa.column('kind'), sa.column('key_phrases', shared.db.JSONType))
    stages: dict[tuple[datetime, str], Counts] = defaultdict(Counts)
    experiences: dict[tuple[datetime, str], Counts] = defaultdict(Counts)
    phrases: dict[tuple[datetime, str, str], list[int]] = defaultdict(lambda: [0, 0])
    rows = conn.execute(sa.select(*items.c).execution_options(yield_per=5000))
    for at, stage, pes, label, score, nps, csat, ces, kind, key_phrases in rows:
        at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
        hour, stage_key = at.replace(minute=0, second=0, microsecond=0), stage or '_none'
        counts = Counts.of_item(sentiment=label, score=score, nps=nps, csat=csat, ces=ces, aided=kind == 'aided')
        stages[(hour, stage_key)] = stages[(hour, stage_key)].add(counts)
        for pe in pes or []:
            experiences[(hour, pe)] = experiences[(hour, pe)].add(counts)
        for phrase in dict.fromkeys(p[:200] for p in key_phrases or []):
            entry = phrases[(hour, stage_key, phrase)]
            entry[0] += 1
            entry[1] += label == 'negative'
    hour_column = sa.column('hour', shared.db.UTCDateTime())
    counter_columns = [sa.column(c, sa.Integer()) for c in COUNTERS]
    tables: list[tuple[sa.TableClause, list[dict[str, Any]]]] = [
        (sa.table('stage_hours', hour_column, sa.column('stage_id', sa.String()), *counter_columns),
         [{'hour': h, 'stage_id': k, **asdict(c)} for (h, k), c in stages.items()]),
        (sa.table('experience_hours', sa.column('hour', shared.db.UTCDateTime()),
                  sa.column('experience_id', sa.String()), *(sa.column(c, sa.Integer()) for c in COUNTERS)),
         [{'hour': h, 'experience_id': k, **asdict(c)} for (h, k), c in experiences.items()]),
        (sa.table('stage_hour_phrases', sa.column('hour', shared.db.UTCDateTime()),
                  sa.column('stage_id', sa.String()), sa.column('phrase', sa.String()),
                  sa.column('count', sa.Integer()), sa.column('negative', sa.Integer())),
         [{'hour': h, 'stage_id': k, 'phrase': p, 'count': n, 'negative': neg}
          for (h, k, p), (n, neg) in phrases.items()]),
    ]
    for table, data in tables:
        for i in range(0, len(data), 5000):
            conn.execute(table.insert(), data[i:i + 5000])
