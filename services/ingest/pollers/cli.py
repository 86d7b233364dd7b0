"""``listening-path poll SOURCE``: run one configured source once (its cursor is used and moved)."""

from __future__ import annotations

from pathlib import Path

import click

from services.ingest.database import ingest_sessions
from services.ingest.pollers.config import PollerConfigError, PollersConfig
from services.ingest.pollers.service import poll_once
from services.ingest.settings import IngestSettings
from shared.settings import SettingsError


@click.command("poll")
@click.argument("source")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Pollers file (default: LP_POLLERS_CONFIG).")
def poll_command(source: str, config_path: Path | None) -> None:
    """Poll SOURCE (a name from the pollers file) once and store what is new."""
    try:
        settings = IngestSettings()
        path = config_path or settings.pollers_config
        if path is None:
            raise click.ClickException("no pollers file: pass --config FILE or set LP_POLLERS_CONFIG")
        config = PollersConfig.load(path).get(source)
    except (SettingsError, PollerConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    with ingest_sessions(settings) as sessions:
        summary = poll_once(config, sessions=sessions)
    click.echo(f"{source}: {summary.pages} page(s), {summary.fetched} new item(s): {summary.accepted} accepted, "
               f"{summary.duplicates} duplicates, {len(summary.rejected)} rejected"
               + (" (not modified)" if summary.not_modified else ""))
    for external_id, reason in summary.rejected[:20]:
        click.echo(f"  rejected {external_id}: {reason}")
    if summary.error:
        raise click.ClickException(f"{source}: {summary.error} (the cursor was not moved; items read were kept)")
