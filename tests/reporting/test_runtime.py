"""Reporting's connections to the story store: on PostgreSQL a report query starts no parallel workers unless
``LP_REPORTING_PG_PARALLEL_WORKERS`` allows them (their start-up cost more than the small reads reports make)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services.cli.migrate import upgrade_schemas
from services.reporting.runtime import ReportingRuntime
from services.reporting.settings import ReportingSettings
from tests.conftest import Database


@pytest.mark.parametrize(("setting", "expected"), [(None, "0"), ("3", "3")])
def test_report_queries_start_the_parallel_workers_the_setting_allows(
        database: Database, monkeypatch: pytest.MonkeyPatch, setting: str | None, expected: str) -> None:
    if setting is not None:
        monkeypatch.setenv("LP_REPORTING_PG_PARALLEL_WORKERS", setting)
    settings = ReportingSettings(data_dir=database.data_dir, database_url=database.url)
    upgrade_schemas(settings, ["journey", "reporting"])
    runtime = ReportingRuntime.start(settings)
    try:
        with runtime.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                assert conn.execute(text("SHOW max_parallel_workers_per_gather")).scalar() == expected
            else:  # SQLite runs no parallel plans; the engine must still open and read the store
                assert settings.pg_parallel_workers == int(expected)
                assert conn.execute(text("SELECT count(*) FROM feedback_items")).scalar() == 0
    finally:
        runtime.stop()
