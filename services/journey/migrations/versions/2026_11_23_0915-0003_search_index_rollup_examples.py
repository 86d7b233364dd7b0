"""search index and rollup examples

Full-text search over feedback text (SQLite: an FTS5 external-content table kept in step by triggers;
PostgreSQL: a generated tsvector column with a GIN index, text search configuration ``lp_search``: English
stemming without stop words, diacritics folded by ``unaccent`` when the extension is available), example voices in the stage and phrase rollups
(backfilled from the stored items), and an index for the provider filter.

Note for later SQLite migrations: a batch ("move and copy") alteration of ``feedback_items`` drops the
table's triggers; such a revision must create the ``feedback_search_*`` triggers again and rebuild the index.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 09:15:00
"""

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def _example_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column('worst_id', sa.String(length=40), nullable=True),
        sa.Column('worst_score', sa.Float(), nullable=True),
        sa.Column('newest_id', sa.String(length=40), nullable=True),
        sa.Column('newest_at', shared.db.UTCDateTime(timezone=True), nullable=True),
    ]

SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE feedback_search USING fts5(text, content='feedback_items', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER feedback_search_ai AFTER INSERT ON feedback_items BEGIN "
    "INSERT INTO feedback_search(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER feedback_search_ad AFTER DELETE ON feedback_items BEGIN "
    "INSERT INTO feedback_search(feedback_search, rowid, text) VALUES ('delete', old.rowid, old.text); END",
    "CREATE TRIGGER feedback_search_au AFTER UPDATE OF text ON feedback_items BEGIN "
    "INSERT INTO feedback_search(feedback_search, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO feedback_search(rowid, text) VALUES (new.rowid, new.text); END",
    "INSERT INTO feedback_search(feedback_search) VALUES ('rebuild')",
)
POSTGRES_SEARCH = (
    # English stemming without PostgreSQL's English stop words ("down", "again", "off" matter in feedback), as
    # FTS5's porter tokenizer does on SQLite.
    "CREATE TEXT SEARCH DICTIONARY lp_english_stem (TEMPLATE = snowball, Language = english)",
    "CREATE TEXT SEARCH CONFIGURATION lp_search (COPY = pg_catalog.english)",
    "ALTER TEXT SEARCH CONFIGURATION lp_search ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, "
    "hword, hword_part WITH lp_english_stem",
    "ALTER TABLE feedback_items ADD COLUMN search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('lp_search'::regconfig, text)) STORED",
    "CREATE INDEX ix_feedback_items_search_vector ON feedback_items USING gin (search_vector)",
)
# Diacritics are folded (as FTS5's remove_diacritics does) where the unaccent extension can be had.
POSTGRES_UNACCENT = (
    "ALTER TEXT SEARCH CONFIGURATION lp_search ALTER MAPPING FOR hword, hword_part, word "
    "WITH unaccent, lp_english_stem"
)


def upgrade() -> None:
    for table in ('stage_days', 'stage_day_phrases'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in _example_columns():
                batch_op.add_column(column)
    op.create_index('ix_feedback_items_provider_occurred', 'feedback_items', ['provider', 'occurred_at'])
    conn = op.get_bind()
    for statement in SQLITE_SEARCH if conn.dialect.name == 'sqlite' else POSTGRES_SEARCH[:3]:
        op.execute(statement)
    if conn.dialect.name == 'postgresql':
        try:
            with conn.begin_nested():
                conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS unaccent")
                conn.exec_driver_sql(POSTGRES_UNACCENT)
        except sa.exc.DBAPIError:  # not installed or not allowed: search still works, accents then count
            pass
        for statement in POSTGRES_SEARCH[3:]:
            op.execute(statement)
    _backfill_examples(conn)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in ('feedback_search_ai', 'feedback_search_ad', 'feedback_search_au'):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute("DROP TABLE IF EXISTS feedback_search")
    else:
        op.execute("DROP INDEX IF EXISTS ix_feedback_items_search_vector")
        op.execute("ALTER TABLE feedback_items DROP COLUMN IF EXISTS search_vector")
        op.execute("DROP TEXT SEARCH CONFIGURATION IF EXISTS lp_search")
        op.execute("DROP TEXT SEARCH DICTIONARY IF EXISTS lp_english_stem")
    op.drop_index('ix_feedback_items_provider_occurred', table_name='feedback_items')
    for table in ('stage_day_phrases', 'stage_days'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in ('newest_at', 'newest_id', 'worst_score', 'worst_id'):
                batch_op.drop_column(name)


def _backfill_examples(conn: sa.Connection) -> None:
    """Each existing rollup row's examples, by the rule journey applies as voices arrive (frozen copy here)."""
    items = sa.table('feedback_items', sa.column('feedback_id'), sa.column('stage_id'),
                     sa.column('sentiment_score'), sa.column('occurred_at', shared.db.UTCDateTime()),
                     sa.column('key_phrases', shared.db.JSONType))
    stages: dict[tuple[Any, ...], list[Any]] = {}
    phrases: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    rows = conn.execute(
        sa.select(items.c.feedback_id, items.c.stage_id, items.c.sentiment_score, items.c.occurred_at,
                  items.c.key_phrases).execution_options(yield_per=5000))
    for fid, stage, score, at, key_phrases in rows:
        at = at if at.tzinfo else at.replace(tzinfo=UTC)
        day, stage_key = at.date(), stage or '_none'
        keys = [(stages, (day, stage_key))] + [(phrases, (day, stage_key, p[:200]))
                                              for p in dict.fromkeys(key_phrases or [])]
        for store, key in keys:
            current = store.get(key)
            if current is None:
                store[key] = [fid, score, fid, at]
                continue
            if (score, fid) < (current[1], current[0]):
                current[0], current[1] = fid, score
            if (at, fid) > (current[3], current[2]):
                current[2], current[3] = fid, at
    key_names: tuple[str, ...]
    for table, key_names, found in (('stage_days', ('day', 'stage_id'), stages),
                               ('stage_day_phrases', ('day', 'stage_id', 'phrase'), phrases)):
        if not found:
            continue
        key_columns: list[sa.ColumnClause[Any]] = [sa.column('day', sa.Date()),
                                                   *(sa.column(k, sa.String()) for k in key_names[1:])]
        t = sa.table(table, *key_columns, sa.column('worst_id'), sa.column('worst_score'),
                     sa.column('newest_id'), sa.column('newest_at', shared.db.UTCDateTime()))
        stmt = (t.update().where(*(t.c[k] == sa.bindparam(f'k_{k}') for k in key_names))
                .values(worst_id=sa.bindparam('w_id'), worst_score=sa.bindparam('w_score'),
                        newest_id=sa.bindparam('n_id'), newest_at=sa.bindparam('n_at')))
        params = [{**{f'k_{k}': v for k, v in zip(key_names, key, strict=True)}, 'w_id': w, 'w_score': ws, 'n_id': n,
                   'n_at': na} for key, (w, ws, n, na) in found.items()]
        for i in range(0, len(params), 5000):
            conn.execute(stmt, params[i:i + 5000])

