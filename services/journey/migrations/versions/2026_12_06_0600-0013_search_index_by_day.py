"""search index by day (PostgreSQL)

A second GIN index over the search words, each keyed by the UTC day its voice happened: the lexeme ``invoic`` of
a voice of 2026-10-08 is indexed as ``invoic@20734`` (days since 1970-01-01). A search bounded in time (a
period, or the window of newest voices a common word is ranked in) reads only its days' entries, one index scan
per day, instead of every entry of its words in the store: in a million items, "invoice total" has ~100,000
entries per word, a 20-day window ~6,700 (docs/reporting.md). PostgreSQL's GIN lists each word's matches by row
position, not by time, so the plain index ``ix_feedback_items_search_vector`` cannot give a time range.

It is an expression index over the existing ``search_vector`` column (nothing is stored in the rows), kept by
PostgreSQL itself on every insert and update, like the column. Positions are dropped (an exact phrase is checked
on the row); a lexeme longer than 2,000 bytes is left out of this index only (a tsvector lexeme holds at most
2,046). SQLite: nothing changes (its FTS5 index is already keyed by time, revision 0012).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 06:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# IMMUTABLE is true: the epoch of a timestamptz does not depend on the session's time zone.
DAYS_FUNCTION = """
CREATE FUNCTION lp_search_days(words tsvector, at timestamptz) RETURNS tsvector
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_to_tsvector(array_agg(w.lexeme || '@' || floor(extract(epoch FROM at) / 86400)::bigint)),
                    ''::tsvector)
    FROM unnest(words) AS w WHERE octet_length(w.lexeme) <= 2000
$$
"""
DAYS_INDEX = ("CREATE INDEX ix_feedback_items_search_days ON feedback_items "
              "USING gin (lp_search_days(search_vector, occurred_at))")


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(DAYS_FUNCTION)
    op.execute(DAYS_INDEX)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute("DROP INDEX IF EXISTS ix_feedback_items_search_days")
    op.execute("DROP FUNCTION IF EXISTS lp_search_days(tsvector, timestamptz)")
