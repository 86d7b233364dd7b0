"""Multi-row inserts on the hot path, straight to the driver.

SQLAlchemy's per-parameter type processing costs more than the database for the small rows of the raw
store and the outbox, so these inserts hand already-serialised values (JSON text, timestamps in the
backend's form, bytes) to the driver in one multi-row ``INSERT`` per table. Values are stored exactly as the
mapped column types would store them, so the ORM reads them back unchanged.

``insert_new`` is ``INSERT ... ON CONFLICT DO NOTHING``: rows whose unique key is already stored (by another
replica, the importer, a poller, between our look and our write) are skipped by the database itself instead of
failing the transaction. Which rows went in is told by the statement's row count and, only when some were
skipped, by looking up the rows' own fresh ids. Not by ``RETURNING``: Python's sqlite3 module releases and
takes back the GIL for every row a statement returns, and the writer holds SQLite's write lock meanwhile,
so on a busy process each returned row could wait for the event loop's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

ROWS_PER_STATEMENT = 500
"""Rows per statement: keeps the bound parameters under SQLite's limit (32,766) and PostgreSQL's (65,535)."""


def stamp_for(dialect: str) -> Callable[[datetime], Any]:
    """How a UTC datetime is bound on ``dialect``: SQLAlchemy's SQLite text form, or the aware datetime."""
    if dialect == "sqlite":
        return sqlite_stamp
    return _aware


def sqlite_stamp(value: datetime) -> str:
    """SQLAlchemy's storage form of a DATETIME on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC)."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware(value: datetime) -> datetime:
    return value


def utc_json(value: datetime) -> str:
    """A UTC time as pydantic writes it in JSON (``...Z``)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class RowWriter:
    """Inserts rows of one table, given as tuples in ``columns`` order, already in the backend's form."""

    def __init__(self, table: Table, columns: Sequence[str], *, json_columns: Sequence[str] = (),
                 fresh_key: str | None = None) -> None:
        """``fresh_key``: a column whose every value the caller made new (an id), which ``insert_new`` reports."""
        self.table = table
        self.columns = tuple(columns)
        self._json = frozenset(json_columns)
        self._fresh_key = fresh_key
        self._key_index = self.columns.index(fresh_key) if fresh_key is not None else -1
        self._sql: dict[tuple[str, int, bool], str] = {}

    def _statement(self, connection: Connection, rows: int, skip_conflicts: bool) -> str:
        dialect = connection.dialect
        cache_key = (dialect.name, rows, skip_conflicts)
        sql = self._sql.get(cache_key)
        if sql is None:
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            one = "(" + ", ".join(f"{mark}::jsonb" if dialect.name == "postgresql" and c in self._json else mark
                                  for c in self.columns) + ")"
            # Table and column names come from the mapped models, never from input.
            sql = f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) VALUES {', '.join([one] * rows)}"  # noqa: S608
            if skip_conflicts:
                sql += " ON CONFLICT DO NOTHING"
            self._sql[cache_key] = sql
        return sql

    def insert(self, session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in the session's transaction; a unique key already stored fails it."""
        self._run(session, rows, skip_conflicts=False)

    def insert_new(self, session: Session, rows: Sequence[tuple[Any, ...]]) -> set[Any]:
        """Insert the rows whose unique keys are not stored yet; returns the ``fresh_key`` values of those."""
        if self._fresh_key is None:
            raise TypeError("insert_new needs a RowWriter made with fresh_key")
        return self._run(session, rows, skip_conflicts=True)

    def _run(self, session: Session, rows: Sequence[tuple[Any, ...]], *, skip_conflicts: bool) -> set[Any]:
        inserted: set[Any] = set()
        if not rows:
            return inserted
        connection = session.connection()
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = rows[start:start + ROWS_PER_STATEMENT]
            params = tuple(value for row in chunk for value in row)
            result = connection.exec_driver_sql(self._statement(connection, len(chunk), skip_conflicts), params)
            if skip_conflicts:
                keys = [row[self._key_index] for row in chunk]
                if result.rowcount == len(chunk):
                    inserted.update(keys)  # all went in: the common case, settled without reading anything back
                else:
                    inserted.update(self._stored(connection, keys))
        return inserted

    def _stored(self, connection: Connection, keys: list[Any]) -> list[Any]:
        """Which of these fresh keys are stored: made new by the caller, any of them there went in just now."""
        mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
        column = self._fresh_key
        # Table and column names come from the mapped models, never from input.
        sql = (f"SELECT {column} FROM {self.table.name} "  # noqa: S608
               f"WHERE {column} IN ({', '.join([mark] * len(keys))})")
        return [row[0] for row in connection.exec_driver_sql(sql, tuple(keys))]
