"""Multi-row inserts on the hot path, straight to the driver.

SQLAlchemy's per-parameter type processing costs more than the database for the small rows of the raw
store and the outbox, so these inserts hand already-serialised values (JSON text, UTC timestamps, bytes) to
the driver's ``executemany``. Values are stored exactly as the mapped column types would store them, so
the ORM reads them back unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's storage format for DATETIME on SQLite


class RowWriter:
    """Inserts rows of one table, given as tuples in ``columns`` order."""

    def __init__(self, table: Table, columns: Sequence[str], *, json_columns: Sequence[str] = ()) -> None:
        self.table = table
        self.columns = tuple(columns)
        self._json = frozenset(json_columns)
        self._sql: dict[str, str] = {}

    def _statement(self, dialect: str, paramstyle: str) -> str:
        sql = self._sql.get(dialect)
        if sql is None:
            mark = "?" if paramstyle == "qmark" else "%s"
            values = ", ".join(f"{mark}::jsonb" if dialect == "postgresql" and c in self._json else mark
                               for c in self.columns)
            # Table and column names come from the mapped models, never from input.
            sql = f"INSERT INTO {self.table.name} ({', '.join(self.columns)}) VALUES ({values})"  # noqa: S608
            self._sql[dialect] = sql
        return sql

    def insert(self, session: Session, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert ``rows`` in the session's transaction (JSON columns as text; datetimes aware, in UTC)."""
        if not rows:
            return
        connection = session.connection()
        dialect = connection.dialect
        if dialect.name == "sqlite":
            rows = [tuple(_sqlite(v) for v in row) for row in rows]
        connection.exec_driver_sql(self._statement(dialect.name, dialect.paramstyle), list(rows))


def _sqlite(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime(SQLITE_DATETIME)
    return value


def utc_json(value: datetime) -> str:
    """A UTC time as pydantic writes it in JSON (``...Z``)."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
