"""``listening-path import FILE``: bulk-import a CSV or JSONL export (streamed, resumable, with a summary)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from services.ingest.database import ingest_sessions
from services.ingest.imports.mapping import MappingError, load_mapping
from services.ingest.imports.service import ImportError_, Rejection, run_import
from services.ingest.settings import IngestSettings
from shared.settings import SettingsError

SHOWN_REJECTIONS = 20


@click.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default=None,
              help="File format (default: from the extension or the mapping file).")
@click.option("--map", "maps", multiple=True, metavar="TARGET=COLUMN",
              help="Map a column (CSV) or dotted field (JSONL) onto a target, e.g. --map text=Comment "
                   "--map scores.nps=Q1 --map customer.email=Email. Repeatable; wins over --mapping.")
@click.option("--mapping", "mapping_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML mapping file (columns, provider, source, kind, metadata).")
@click.option("--provider", default=None, help="Provider for rows that do not name one (default: import).")
@click.option("--source", default=None, type=click.Choice(["survey", "support", "crm", "social", "review", "other"]),
              help="Source for rows that do not name one.")
@click.option("--kind", default=None, type=click.Choice(["aided", "unaided"]),
              help="Kind for rows that do not name one.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows per transaction (and per checkpoint).")
@click.option("--delimiter", default=",", show_default=True, help="CSV delimiter.")
@click.option("--restart", is_flag=True, help="Forget an earlier, unfinished run of this file and start again.")
@click.option("--rejects", "rejects_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every rejected row (line, reason) to this JSONL file.")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def import_command(file: Path, fmt: str | None, maps: tuple[str, ...], mapping_file: Path | None,
                   provider: str | None, source: str | None, kind: str | None, batch_size: int, delimiter: str,
                   restart: bool, rejects_path: Path | None, progress: bool) -> None:
    """Import feedback from FILE (CSV or JSONL), streamed, deduplicated and resumable.

    Run it again after an interruption and it goes on after the last committed batch. Imported items are
    published by the running ingest service's outbox relay (or when it next starts).
    """
    from tqdm import tqdm  # type: ignore[import-untyped]

    try:
        settings = IngestSettings()
        mapping = load_mapping(flags=maps, path=mapping_file, fmt=fmt,
                               defaults={"provider": provider or "import", "source": source, "kind": kind})
    except (SettingsError, MappingError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    bar = tqdm(total=file.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, desc=file.name,
               disable=not progress, leave=False)
    rejects_out = open(rejects_path, "a", encoding="utf-8") if rejects_path else None

    def on_rejection(rejection: Rejection) -> None:
        if rejects_out is not None:
            rejects_out.write(json.dumps({"line": rejection.line, "reason": rejection.reason}) + "\n")

    try:
        with ingest_sessions(settings) as sessions:
            summary = run_import(file, sessions=sessions, mapping=mapping, fmt=fmt, batch_size=batch_size,
                                 restart=restart, delimiter=delimiter, progress=bar.update, on_rejection=on_rejection)
    except ImportError_ as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        bar.close()
        if rejects_out is not None:
            rejects_out.close()
    if summary.resumed_from_line:
        click.echo(f"resumed after line {summary.resumed_from_line}")
    click.echo(f"{file}: {summary.lines} lines read")
    click.echo(f"  accepted:   {summary.accepted}")
    click.echo(f"  duplicates: {summary.duplicates}")
    click.echo(f"  rejected:   {summary.rejected}")
    for rejection in summary.rejections[:SHOWN_REJECTIONS]:
        click.echo(f"    line {rejection.line}: {rejection.reason}")
    if summary.rejected > min(len(summary.rejections), SHOWN_REJECTIONS):
        more = summary.rejected - min(len(summary.rejections), SHOWN_REJECTIONS)
        click.echo(f"    ... and {more} more" + (f" (all in {rejects_path})" if rejects_path else
                                                 " (use --rejects FILE to keep them all)"))
