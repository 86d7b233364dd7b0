"""``listening-path up``: broker, migrations, the four services, demo data, and where to look."""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path

import click

from services.catalog import SERVICES
from services.cli.demo import load_demo_feedback
from services.cli.migrate import upgrade_schemas
from services.cli.stack import Stack, child_env
from shared.bus import EmbeddedBroker
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)

RESTART_BACKOFF_S = 2.0


def kept_secret(data_dir: Path, name: str, env_var: str, prefix: str = "") -> str:
    """The value of ``env_var`` if set, else a secret generated on first start and kept in the data directory."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    path = data_dir / name
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    value = prefix + secrets.token_urlsafe(32)
    path.write_text(value + "\n", encoding="utf-8")
    path.chmod(0o600)
    return value


def run_embedded(settings: ServiceSettings, *, demo: bool, should_stop: Callable[[], bool]) -> None:
    """Start everything, print where to look, supervise until asked to stop, then stop in order."""
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_dir = data_dir / "logs"
    log_dir.mkdir(exist_ok=True)
    settings = settings.model_copy(update={"data_dir": data_dir})
    key = kept_secret(data_dir, "api_key", "LP_API_KEY", "lp_")
    admin_key = kept_secret(data_dir, "admin_key", "LP_ADMIN_KEY", "lpadm_")
    identity_key = kept_secret(data_dir, "identity_key", "LP_IDENTITY_KEY")

    broker: EmbeddedBroker | None = None
    bootstrap = settings.kafka_bootstrap
    if not bootstrap:
        click.echo("starting the bundled Kafka-compatible broker (tansu)...")
        broker = EmbeddedBroker(log_file=log_dir / "broker.log", partitions=settings.kafka_partitions).start()
        bootstrap = broker.bootstrap
    click.echo("migrating schemas...")
    upgrade_schemas(settings)

    env = child_env({
        "LP_MODE": "embedded",
        "LP_DATA_DIR": str(data_dir),
        "LP_KAFKA_BOOTSTRAP": bootstrap,
        "LP_API_KEY": key,
        "LP_ADMIN_KEY": admin_key,
        "LP_IDENTITY_KEY": identity_key,
        **({"DATABASE_URL": settings.database_url} if settings.database_url else {}),
    })
    ports = {name: int(os.environ.get(f"LP_{name.upper()}_PORT", spec.settings().port))
             for name, spec in SERVICES.items()}
    stack = Stack(env=env, ports=ports, log_dir=log_dir)
    try:
        click.echo("starting ingest, nlp, journey and reporting (the NLP model takes a moment to load)...")
        stack.start()
        if demo:
            _load_demo_once(data_dir, stack["ingest"].url, key)
        _print_where_to_look(stack, key, admin_key, bootstrap, log_dir)
        _supervise(stack, should_stop)
    finally:
        click.echo("stopping...")
        stack.stop()
        if broker is not None:
            broker.stop()
        click.echo("stopped.")


def _load_demo_once(data_dir: Path, ingest_url: str, key: str) -> None:
    marker = data_dir / "demo-loaded"
    if marker.exists():
        return
    accepted = load_demo_feedback(ingest_url, key)
    marker.write_text(f"{accepted}\n", encoding="utf-8")
    click.echo(f"loaded the demo company's feedback: {accepted} items")


def _print_where_to_look(stack: Stack, key: str, admin_key: str, bootstrap: str, log_dir: Path) -> None:
    ingest, reporting = stack["ingest"].url, stack["reporting"].url
    click.echo("")
    click.secho("Listening Path is running (embedded mode).", bold=True)
    click.echo("")
    click.secho(f"  Customer room  {reporting}/room", bold=True)
    click.echo("  (sign in with the key shown below: the demo company's journey, targets, customers and voices)")
    click.echo("")
    for name, proc in stack.processes.items():
        click.echo(f"  {name:<10} {proc.url}   (API docs: {proc.url}/docs)")
    click.echo(f"  broker     {bootstrap}")
    click.echo(f"  API key    {key}")
    click.echo(f"  admin key  {admin_key}   (changes the journey map)")
    click.echo(f"  logs       {log_dir}")
    click.echo("")
    click.echo("Send feedback:")
    click.echo(f"  curl -s -X POST {ingest}/v1/feedback -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\")
    click.echo("       -d '{\"provider\": \"web\", \"source\": \"survey\", \"text\": \"Setup was painful, "
               "the invite email never came\", \"scores\": {\"nps\": 4}}'")
    click.echo("See it, tagged, a few seconds later:")
    click.echo(f"  curl -s '{reporting}/v1/feedback?limit=5' -H 'X-API-Key: {key}'")
    click.echo(f"  curl -s '{reporting}/v1/stages' -H 'X-API-Key: {key}'")
    click.echo("")
    click.echo("Press Ctrl-C to stop.")


def _supervise(stack: Stack, should_stop: Callable[[], bool]) -> None:
    """Restart a service that died, until asked to stop."""
    while not should_stop():
        for name, proc in stack.processes.items():
            if not proc.alive():
                click.echo(f"{name} exited; restarting it (log: {proc.log_file})")
                time.sleep(RESTART_BACKOFF_S)
                proc.start()
        time.sleep(0.5)
