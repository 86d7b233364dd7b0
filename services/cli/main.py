"""``listening-path``: run the product, one service, migrations, and contract export."""

from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path
from types import FrameType

import click

from services.catalog import MIGRATIONS, SERVICES
from shared.settings import RuntimeMode, ServiceSettings, SettingsError

log = logging.getLogger("listening_path.cli")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Listening Path: every customer voice, one company-wide customer story."""


@cli.command()
@click.argument("service", type=click.Choice(sorted(SERVICES)))
def serve(service: str) -> None:
    """Run one service (reads LP_* settings from the environment)."""
    import uvicorn

    from shared.http.balance import WORKER_LOAD_ENV, create_table_file
    from shared.observability.logs import configure_logging

    spec = SERVICES[service]
    try:
        settings = spec.settings()
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    configure_logging(service, level=settings.log_level, json_logs=settings.log_json)
    if settings.mode is RuntimeMode.EMBEDDED and spec.needs_schemas:
        from services.cli.migrate import upgrade_schemas

        upgrade_schemas(settings, spec.needs_schemas)
    workers: int = getattr(settings, "workers", 1)  # ingest: LP_INGEST_WORKERS (services/ingest/leader.py)
    load_file = create_table_file() if workers > 1 and spec.balance_connections else None
    if load_file is not None:  # the workers' shared table of their loads (shared/http/balance.py)
        os.environ[WORKER_LOAD_ENV] = str(load_file)
    else:  # one process, or a service that does not balance, whatever an inherited environment says
        os.environ.pop(WORKER_LOAD_ENV, None)
    try:
        uvicorn.run(spec.app_factory, factory=True, host=settings.host, port=settings.port, log_config=None,
                    access_log=False, timeout_graceful_shutdown=10, workers=workers)
    finally:
        if load_file is not None:
            load_file.unlink(missing_ok=True)


@cli.group()
def db() -> None:
    """Database schema management."""


@db.command("upgrade")
@click.option("--service", "owners", multiple=True, type=click.Choice(sorted(MIGRATIONS)),
              help="Only this service's schema (repeatable). Default: all.")
def db_upgrade(owners: tuple[str, ...]) -> None:
    """Migrate the schemas to the newest revision (DATABASE_URL, or the embedded SQLite files)."""
    from services.cli.migrate import upgrade_schemas

    try:
        settings = ServiceSettings()
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    upgrade_schemas(settings, owners or tuple(MIGRATIONS))
    click.echo(f"schemas up to date: {', '.join(owners or tuple(MIGRATIONS))}")


@cli.group()
def contracts() -> None:
    """Event contracts for other teams."""


@contracts.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("docs/contracts"))
def contracts_export(directory: Path) -> None:
    """Write the JSON Schema of every topic's events and the AsyncAPI document to DIRECTORY."""
    from shared.contracts.schema_export import write_asyncapi, write_schemas

    for path in [*write_schemas(directory), write_asyncapi(directory)]:
        click.echo(str(path))


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where SQLite files, logs and the generated API key live (default: LP_DATA_DIR or "
                   "./.listening-path).")
@click.option("--demo/--no-demo", default=True, help="Load the demo company's feedback on first start.")
def up(data_dir: Path | None, demo: bool) -> None:
    """Run the whole product on this machine (embedded mode) until Ctrl-C."""
    from services.cli.up import run_embedded

    try:
        base = ServiceSettings() if data_dir is None else ServiceSettings(data_dir=data_dir)
    except (SettingsError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    if base.mode is not RuntimeMode.EMBEDDED:
        raise click.ClickException("`up` runs embedded mode; in production run `serve SERVICE` per service")
    stop_requested = _install_stop_handlers()
    run_embedded(base, demo=demo, should_stop=lambda: stop_requested["flag"])


def _install_stop_handlers() -> dict[str, bool]:
    state = {"flag": False}

    def handler(_signum: int, _frame: FrameType | None) -> None:
        state["flag"] = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return state


def _register_operations() -> None:
    from services.cli.keys import keys
    from services.cli.rebuild import journey
    from services.cli.replay import replay
    from services.ingest.imports.cli import import_command
    from services.ingest.pollers.cli import poll_command
    from services.nlp.tagging import nlp

    for command in (import_command, poll_command, journey, keys, replay, nlp):
        cli.add_command(command)


_register_operations()


def main() -> None:
    """Entry point for ``python -m services.cli.main``."""
    cli()


if __name__ == "__main__":
    main()
    sys.exit(0)
