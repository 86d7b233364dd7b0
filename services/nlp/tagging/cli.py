"""``listening-path nlp tag``: tag a JSONL file of texts against a journey map, to try a map before it goes live.

Each input line is ``{"id": ..., "text": ...}`` (``provider`` and ``metadata`` are optional and feed
source hints). Each output line, in input order, is::

    {"id": ..., "sentiment": {"label", "score", "confidence"},
     "stage": {"id", "confidence", "method", "alternatives"}, "language": ..., "key_phrases": [...]}

A line that is not a JSON object with a string ``text`` gets ``{"id": ..., "line": N, "error": {"code",
"message"}}`` instead and the run goes on; the exit status is then 1. A map or file that cannot be read
stops the run before anything is written, with exit status 2.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NoReturn

import click

from shared.contracts.journey_map import JourneyMap, JourneyMapError

MAX_LINE_CHARS = 4_000_000
"""Longer lines are refused with ``line_too_long``; a 1 MB text fits (the models read its first 5,000 characters)."""


@dataclass(frozen=True)
class Row:
    """One input line: either something to tag or the reason it cannot be tagged."""

    line: int
    id: Any
    text: str | None = None
    provider: str | None = None
    metadata: dict[str, Any] | None = None
    error: tuple[str, str] | None = None


def parse_line(number: int, line: str) -> Row:
    """Read one JSONL line; never raises."""
    if len(line) > MAX_LINE_CHARS:
        return Row(number, None, error=("line_too_long", f"line is over {MAX_LINE_CHARS} characters"))
    try:
        doc = json.loads(line)
    except ValueError as exc:
        return Row(number, None, error=("invalid_json", f"not JSON: {exc}"))
    if not isinstance(doc, dict):
        return Row(number, None, error=("not_an_object", "each line must be a JSON object"))
    item_id = doc.get("id")
    text = doc.get("text")
    if not isinstance(text, str):
        return Row(number, item_id, error=("missing_text", 'each line needs a string "text"'))
    provider = doc.get("provider")
    metadata = doc.get("metadata")
    return Row(
        number,
        item_id,
        text=text,
        provider=provider if isinstance(provider, str) else None,
        metadata=metadata if isinstance(metadata, dict) else None,
    )


def _read_rows(handle: IO[str]) -> Iterator[Row]:
    for number, raw in enumerate(handle, start=1):
        line = raw.strip()
        if line:
            yield parse_line(number, line)


def _count_lines(path: Path) -> int | None:
    try:
        with path.open("rb") as handle:
            return sum(1 for raw in handle if raw.strip())
    except OSError:
        return None


@click.group()
def nlp() -> None:
    """The NLP models from the command line."""


@nlp.command()
@click.option(
    "--journey-map",
    "journey_map_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The journey map YAML to tag stages against.",
)
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help='JSONL, one {"id", "text"} per line ("-" for stdin).',
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
    help='Where to write the tagged JSONL ("-" for stdout).',
)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1, 1024), help="Texts per model pass.")
@click.option("--threads", default=None, type=click.IntRange(1, 256), help="Inference threads (default: all cores).")
@click.option(
    "--progress/--no-progress", default=None, help="Show a progress bar (default: when stderr is a terminal)."
)
def tag(
    journey_map_path: Path,
    input_path: Path,
    output_path: Path,
    batch_size: int,
    threads: int | None,
    progress: bool | None,
) -> None:
    """Tag every line of INPUT with sentiment, journey stage, language and key phrases."""
    try:
        journey_map = JourneyMap.load(journey_map_path)
    except JourneyMapError as exc:
        _fail(f"journey map {journey_map_path}: {exc}")
    from_stdin = str(input_path) == "-"
    if not from_stdin and not input_path.is_file():
        _fail(f"input {input_path}: no such file")

    from services.nlp.models import Analyzer, TextInput

    analyzer = Analyzer.load(journey_map, threads=threads)
    show_bar = progress if progress is not None else sys.stderr.isatty()
    total = None if from_stdin else _count_lines(input_path)
    errors = tagged = 0

    with ExitStack() as stack:
        try:
            source: IO[str] = (
                sys.stdin
                if from_stdin
                else stack.enter_context(input_path.open(encoding="utf-8", errors="replace"))
            )
            sink: IO[str] = (
                sys.stdout
                if str(output_path) == "-"
                else stack.enter_context(output_path.open("w", encoding="utf-8"))
            )
        except OSError as exc:
            _fail(f"{exc.filename}: {exc.strerror}")
        # A bar needs a length: shown for a file input (lines counted first), not for stdin.
        bar = (
            stack.enter_context(click.progressbar(length=total, label="tagging", file=sys.stderr, show_pos=True))
            if show_bar and total is not None
            else None
        )

        batch: list[Row] = []

        def flush() -> None:
            nonlocal errors, tagged
            good = [r for r in batch if r.error is None]
            analyses = iter(
                analyzer.analyze([TextInput(r.text or "", r.provider, r.metadata or {}) for r in good])
            )
            for row in batch:
                if row.error is not None:
                    errors += 1
                    record: dict[str, Any] = {
                        "id": row.id,
                        "line": row.line,
                        "error": {"code": row.error[0], "message": row.error[1]},
                    }
                else:
                    tagged += 1
                    analysis = next(analyses)
                    record = {
                        "id": row.id,
                        "sentiment": analysis.sentiment.model_dump(mode="json"),
                        "stage": analysis.stage.model_dump(mode="json"),
                        "language": analysis.language,
                        "key_phrases": analysis.key_phrases,
                    }
                sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            if bar is not None:
                bar.update(len(batch))
            batch.clear()

        for row in _read_rows(source):
            batch.append(row)
            if len(batch) >= batch_size:
                flush()
        flush()

    click.echo(f"tagged {tagged} texts, {errors} lines with errors", err=True)
    if errors:
        sys.exit(1)


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)
