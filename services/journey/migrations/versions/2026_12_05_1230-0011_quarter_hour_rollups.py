"""quarter-hour rollups

The per-hour rollups (``stage_hours``, ``experience_hours``, ``stage_hour_phrases``) become per UTC quarter-hour
(``stage_quarters``, ``experience_quarters``, ``stage_quarter_phrases``, with a ``quarter`` key). A period in a
time zone whose offset is not a whole number of hours (Asia/Kolkata +05:30, Asia/Kathmandu +05:45) has edges
on quarter-hours: they are summed from these rows, where the voices of the part-hour at each edge were read
before. A voice still adds to one row per table, so journey writes as many rows as before.

Backfilled from the stored items with the rollups' own definition (``Counts.of_item``), as revision 0005 filled
the hour tables; on SQLite the new tables are ``WITHOUT ROWID`` like the other rollups (revision 0010). The
downgrade sums the quarter rows back into hours.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 12:30:00
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import shared.db
from services.journey.metrics import Counts

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTERS = ('volume', 'negative', 'neutral', 'positive', 'sentiment_points', 'promoters', 'passives', 'detractors',
            'csat_responses', 'csat_satisfied', 'ces_responses', 'ces_total', 'aided', 'unaided')
TABLES = (('stage_hours', 'stage_quarters', 'stage_id'), ('experience_hours', 'experience_quarters', 'experience_id'),
          ('stage_hour_phrases', 'stage_quarter_phrases', None))
"""(hour table, quarter table, key column; None: the phrase rollup, keyed by stage and phrase)."""


def _create(name: str, time: str, key: str | None) -> None:
    columns: list[Any]
    if key is None:
        columns = [sa.Column(time, shared.db.UTCDateTime(timezone=True), nullable=False),
                   sa.Column('stage_id', sa.String(length=64), nullable=False),
                   sa.Column('phrase', sa.String(length=200), nullable=False),
                   sa.Column('count', sa.Integer(), nullable=False),
                   sa.Column('negative', sa.Integer(), nullable=False),
                   sa.PrimaryKeyConstraint(time, 'stage_id', 'phrase', name=op.f(f'pk_{name}'))]
    else:
        columns = [sa.Column(time, shared.db.UTCDateTime(timezone=True), nullable=False),
                   sa.Column(key, sa.String(length=64), nullable=False),
                   *(sa.Column(c, sa.Integer(), server_default='0', nullable=False) for c in COUNTERS),
                   sa.PrimaryKeyConstraint(time, key, name=op.f(f'pk_{name}'))]
    op.create_table(name, *columns, sqlite_with_rowid=False)


def _table(name: str, time: str, key: str | None) -> sa.TableClause:
    keys = ['stage_id', 'phrase'] if key is None else [key]
    values = ['count', 'negative'] if key is None else list(COUNTERS)
    return sa.table(name, sa.column(time, shared.db.UTCDateTime()), *(sa.column(k, sa.String()) for k in keys),
                    *(sa.column(v, sa.Integer()) for v in values))


def _quarter(at: datetime) -> datetime:
    at = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def upgrade() -> None:
    for _, quarters, key in TABLES:
        _create(quarters, 'quarter', key)
    _backfill(op.get_bind())
    for hours, _, _ in TABLES:
        op.drop_table(hours)


def _backfill(conn: sa.Connection) -> None:
    """The quarter-hour rows of the stored items, by the rule journey applies as voices arrive. The items are read
    in time order (the ``occurred_at`` index) and each quarter-hour's rows written once it is complete, so memory
    holds one quarter-hour's sums whatever the size of the store."""
    items = sa.table('feedback_items', sa.column('occurred_at', shared.db.UTCDateTime()), sa.column('stage_id'),
                     sa.column('experiences', shared.db.JSONType), sa.column('sentiment_label'),
                     sa.column('sentiment_score'), sa.column('nps'), sa.column('csat'), sa.column('ces'),
                     sa.column('kind'), sa.column('key_phrases', shared.db.JSONType), sa.column('feedback_id'))
    (_, stage_name, _), (_, experience_name, _), (_, phrase_name, _) = TABLES
    writers = [_Writer(conn, _table(stage_name, 'quarter', 'stage_id')),
               _Writer(conn, _table(experience_name, 'quarter', 'experience_id')),
               _Writer(conn, _table(phrase_name, 'quarter', None))]
    stages: dict[str, Counts] = defaultdict(Counts)
    experiences: dict[str, Counts] = defaultdict(Counts)
    phrases: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    current: datetime | None = None

    def flush() -> None:
        writers[0].add({'quarter': current, 'stage_id': k, **asdict(c)} for k, c in stages.items())
        writers[1].add({'quarter': current, 'experience_id': k, **asdict(c)} for k, c in experiences.items())
        writers[2].add({'quarter': current, 'stage_id': k, 'phrase': p, 'count': n, 'negative': neg}
                       for (k, p), (n, neg) in phrases.items())
        stages.clear()
        experiences.clear()
        phrases.clear()

    ordered = sa.select(*list(items.c)[:-1]).order_by(items.c.occurred_at, items.c.feedback_id)
    for at, stage, pes, label, score, nps, csat, ces, kind, key_phrases in conn.execute(
            ordered.execution_options(yield_per=5000)):
        quarter, stage_key = _quarter(at), stage or '_none'
        if quarter != current:
            flush()
            current = quarter
        counts = Counts.of_item(sentiment=label, score=score, nps=nps, csat=csat, ces=ces, aided=kind == 'aided')
        stages[stage_key] = stages[stage_key].add(counts)
        for pe in pes or []:
            experiences[pe] = experiences[pe].add(counts)
        for phrase in dict.fromkeys(p[:200] for p in key_phrases or []):
            entry = phrases[(stage_key, phrase)]
            entry[0] += 1
            entry[1] += label == 'negative'
    flush()
    for writer in writers:
        writer.close()


class _Writer:
    """Rows of one table, inserted 5,000 at a time."""

    def __init__(self, conn: sa.Connection, table: sa.TableClause) -> None:
        self.conn, self.table = conn, table
        self.rows: list[dict[str, Any]] = []

    def add(self, rows: Iterable[dict[str, Any]]) -> None:
        self.rows.extend(rows)
        if len(self.rows) >= 5000:
            self.close()

    def close(self) -> None:
        if self.rows:
            self.conn.execute(self.table.insert(), self.rows)
            self.rows = []


def downgrade() -> None:
    """The hour tables again, each hour the sum of its quarter-hours."""
    for hours, quarters, key in TABLES:
        _create(hours, 'hour', key)
        _sum_into_hours(op.get_bind(), hours, quarters, key)
        op.drop_table(quarters)


def _sum_into_hours(conn: sa.Connection, hours: str, quarters: str, key: str | None) -> None:
    """Each hour's rows of ``hours`` from the quarter rows of ``quarters``, read in key order, an hour at a time."""
    names = ['stage_id', 'phrase'] if key is None else [key]
    columns = ['count', 'negative'] if key is None else list(COUNTERS)
    writer = _Writer(conn, _table(hours, 'hour', key))
    source = _table(quarters, 'quarter', key)
    sums: dict[tuple[Any, ...], list[int]] = {}
    current: datetime | None = None

    def flush() -> None:
        writer.add({'hour': current, **dict(zip(names, k, strict=True)), **dict(zip(columns, v, strict=True))}
                   for k, v in sums.items())
        sums.clear()

    for row in conn.execute(sa.select(source).order_by(source.c.quarter)).mappings():
        at = row['quarter']
        hour = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).replace(minute=0)
        if hour != current:
            flush()
            current = hour
        total = sums.setdefault(tuple(row[n] for n in names), [0] * len(columns))
        for i, c in enumerate(columns):
            total[i] += row[c]
    flush()
    writer.close()
