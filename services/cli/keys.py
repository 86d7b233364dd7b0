"""``listening-path keys``: API keys for the reporting API and the customer room."""

from __future__ import annotations

import click
from sqlalchemy.orm import Session, sessionmaker

from services.cli.migrate import upgrade_schemas
from services.reporting.access.keys import SCOPES, create_key, list_keys, revoke_key
from services.reporting.settings import ReportingSettings
from shared.db import create_db_engine, make_session_factory, transaction
from shared.http import ServiceError


def _sessions() -> sessionmaker[Session]:
    settings = ReportingSettings()
    upgrade_schemas(settings, ["reporting"])
    return make_session_factory(create_db_engine(settings.database_url_for("reporting")))


@click.group()
def keys() -> None:
    """Create, list and revoke API keys (stored as hashes; a key is shown once, when created)."""


@keys.command("create")
@click.option("--name", required=True, help="Who or what the key is for, e.g. 'ops dashboard'.")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(SCOPES), default=("reports:read",),
              show_default=True, help="Repeatable.")
def create(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key and print it once."""
    try:
        with transaction(_sessions()) as session:
            new = create_key(session, name=name, scopes=scopes)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{new.id}  {','.join(new.scopes)}  {new.name}")
    click.echo(new.secret)
    click.echo("Keep it now: it is stored only as a hash and cannot be shown again.", err=True)


@keys.command("list")
def list_command() -> None:
    """List keys (never their secrets)."""
    with _sessions()() as session:
        for key in list_keys(session):
            state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "active"
            click.echo(f"{key.id}  {key.prefix}…  {','.join(key.scopes):<20} {state:<24} {key.name}")


@keys.command("revoke")
@click.argument("key_id")
def revoke(key_id: str) -> None:
    """Revoke a key (refused within a few seconds everywhere)."""
    try:
        with transaction(_sessions()) as session:
            key = revoke_key(session, key_id)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"revoked {key.id} ({key.name})")
