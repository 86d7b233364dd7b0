"""search index in time order (SQLite)

The FTS5 index ``feedback_search`` (revision 0003) numbered its rows by ``feedback_items.rowid``, that is by
arrival. It now numbers them by when the voice happened: the row's key is ``(occurred_at in whole seconds since
1970, held within +-2^33) << 30 | (feedback_items.rowid & (2^30 - 1))``. FTS5 keeps each word's list of matches in key order and can
seek in it, so a period is a key range whatever order the voices were stored in (an old export imported last), and
newest-first results come out of the index in order. The low 30 bits name the item (its rowid), so the store holds
at most 2^30 (about a billion) items; an insert beyond that is refused by the trigger rather than mis-indexed.

The table becomes contentless (``content=''``): it keeps only the index, the text stays in ``feedback_items``, and
the triggers give it the text on insert and the old text on delete, as they did. PostgreSQL: nothing changes (its
``search_vector`` is a column of the row).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 15:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRIGGERS = ('feedback_search_ai', 'feedback_search_ad', 'feedback_search_au')
TOKENIZE = "tokenize='porter unicode61 remove_diacritics 2'"


def _key(row: str) -> str:
    """The index key of ``row`` (``new``, ``old`` or the table) as SQL; see the module's docstring. The second is
    held within +-2^33 (the years 1697 to 2242) so that the key fits 64 bits; a voice outside shares the edge
    second, and a search there checks its time."""
    second = f"max(min(CAST(strftime('%s', {row}.occurred_at) AS INTEGER), 8589934591), -8589934592)"
    return f"(({second} << 30) | ({row}.rowid & 1073741823))"


TIME_ORDERED = (
    f"CREATE VIRTUAL TABLE feedback_search USING fts5(text, content='', {TOKENIZE})",
    "CREATE TRIGGER feedback_search_ai AFTER INSERT ON feedback_items BEGIN "  # noqa: S608 (constant SQL)
    "SELECT RAISE(ABORT, 'feedback_items: the search index keys at most 2^30 items') "
    "WHERE new.rowid > 1073741823; "
    f"INSERT INTO feedback_search(rowid, text) VALUES ({_key('new')}, new.text); END",
    "CREATE TRIGGER feedback_search_ad AFTER DELETE ON feedback_items BEGIN "  # noqa: S608 (constant SQL)
    f"INSERT INTO feedback_search(feedback_search, rowid, text) VALUES ('delete', {_key('old')}, old.text); END",
    "CREATE TRIGGER feedback_search_au AFTER UPDATE OF text, occurred_at ON feedback_items BEGIN "  # noqa: S608
    f"INSERT INTO feedback_search(feedback_search, rowid, text) VALUES ('delete', {_key('old')}, old.text); "
    f"INSERT INTO feedback_search(rowid, text) VALUES ({_key('new')}, new.text); END",
    # In key order: FTS5 appends to its lists instead of merging out-of-order rows.
    f"INSERT INTO feedback_search(rowid, text) SELECT {_key('feedback_items')} AS k, text "  # noqa: S608
    "FROM feedback_items ORDER BY k",
)
BY_ARRIVAL = (  # revision 0003's index
    f"CREATE VIRTUAL TABLE feedback_search USING fts5(text, content='feedback_items', {TOKENIZE})",
    "CREATE TRIGGER feedback_search_ai AFTER INSERT ON feedback_items BEGIN "
    "INSERT INTO feedback_search(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER feedback_search_ad AFTER DELETE ON feedback_items BEGIN "
    "INSERT INTO feedback_search(feedback_search, rowid, text) VALUES ('delete', old.rowid, old.text); END",
    "CREATE TRIGGER feedback_search_au AFTER UPDATE OF text ON feedback_items BEGIN "
    "INSERT INTO feedback_search(feedback_search, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO feedback_search(rowid, text) VALUES (new.rowid, new.text); END",
    "INSERT INTO feedback_search(feedback_search) VALUES ('rebuild')",
)


def _replace(statements: Sequence[str]) -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS feedback_search")
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    _replace(TIME_ORDERED)


def downgrade() -> None:
    _replace(BY_ARRIVAL)
