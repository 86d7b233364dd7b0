"""The body of every service's Alembic ``env.py`` (each one only names its metadata)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import MetaData, pool

from shared.db import create_db_engine


def run(target_metadata: MetaData) -> None:
    """Run the migrations Alembic asked for, online, batch mode on SQLite."""
    cfg = context.config
    url = cfg.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("sqlalchemy.url is not set for the migration run")
    version_table = cfg.get_main_option("version_table") or "alembic_version"
    engine = create_db_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
