"""shared.db: the project's SQLite statements can name an index, as other dialects' can."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from shared.db import SQLITE_MMAP_BYTES, create_db_engine

ITEMS = Table("items", MetaData(), Column("id", Integer, primary_key=True), Column("at", String))


def test_a_sqlite_hint_names_the_index_and_other_dialects_ignore_it() -> None:
    stmt = select(ITEMS.c.id).with_hint(ITEMS, "INDEXED BY ix_items_at", "sqlite").where(ITEMS.c.at >= bindparam("x"))
    assert "FROM items INDEXED BY ix_items_at" in str(stmt.compile(dialect=sqlite.dialect()))
    assert "INDEXED BY" not in str(stmt.compile(dialect=postgresql.dialect()))


def test_sqlite_reads_through_the_named_index() -> None:
    engine = create_db_engine("sqlite://")
    with engine.begin() as conn:
        ITEMS.metadata.create_all(conn)
        conn.exec_driver_sql("CREATE INDEX ix_items_at ON items (at)")
        conn.execute(ITEMS.insert(), [{"id": i, "at": f"2026-01-{i % 28 + 1:02d}"} for i in range(200)])
        stmt = select(ITEMS.c.id).with_hint(ITEMS, "INDEXED BY ix_items_at", "sqlite") \
            .where(ITEMS.c.at >= "2026-01-20").order_by(ITEMS.c.id)
        plan = " ".join(str(row[3]) for row in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN " + str(stmt.compile(engine, compile_kwargs={"literal_binds": True}))))
        assert "ix_items_at" in plan
        assert [r.id for r in conn.execute(stmt)] == [i for i in range(200) if i % 28 + 1 >= 20]
    engine.dispose()


def test_sqlite_connections_read_the_file_through_a_memory_map(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA mmap_size").scalar() == SQLITE_MMAP_BYTES
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
