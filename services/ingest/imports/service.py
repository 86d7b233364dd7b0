"""Bulk import of CSV and JSONL exports: streamed, batched, deduplicated, resumable.

The file is read as a stream of records (never loaded whole); every ``batch_size`` valid records are stored
through the intake pipeline (its bulk path) in one transaction together with a checkpoint (byte offset, line
number and counts), so an interrupted import resumes exactly after the last committed batch. Batches are
committed in order on one background thread while the next batch is read and validated, one in flight at most.
Rows that cannot be mapped or validated are rejected with their line number and reason; the rest go on.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.feedback.schemas import FeedbackCreate
from services.ingest.imports.mapping import ImportMapping, MappingError, RowError
from services.ingest.imports.repository import CheckpointRepository
from services.ingest.intake.schemas import Intake
from services.ingest.intake.service import accept_intake
from services.ingest.metrics import record_rejection
from services.ingest.models import ImportCheckpoint
from shared.contracts import utcnow
from shared.db import transaction
from shared.observability.tracing import child_traceparent

HEAD_BYTES = 65536
KEPT_REJECTIONS = 1000
csv.field_size_limit(10_000_000)


class ImportError_(Exception):
    """An import that cannot start or go on, with the reason (not one bad row: those are rejected)."""


@dataclass
class Rejection:
    """One row that was not imported."""

    line: int
    reason: str


@dataclass
class ImportSummary:
    """What an import did (over every run, when it was resumed)."""

    path: str
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    """The first rejections of this run (all are counted in ``rejected``)."""
    resumed_from_line: int = 0
    lines: int = 0
    finished: bool = False


@dataclass(frozen=True)
class _Record:
    line: int
    end_offset: int
    end_line: int
    data: dict[str, Any] | None
    error: str | None = None


class _CsvRow(dict[str, Any]):
    """A CSV row (flat columns), as opposed to a JSON object (nested paths)."""


def detect_format(path: Path, given: str | None) -> str:
    """``csv`` or ``jsonl``: as given, else by the file's extension."""
    if given:
        return given
    suffix = path.suffix.lower()
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    if suffix in {".csv", ".tsv", ".txt"}:
        return "csv"
    raise ImportError_(f"cannot tell the format of {path.name}; pass --format csv or --format jsonl")


def import_id(path: Path, fmt: str, mapping: ImportMapping) -> str:
    """The identity of an import: the file's real path, its format and the mapping."""
    text = f"{os.path.realpath(path)}\n{fmt}\n{mapping.fingerprint()}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _head_hash(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(HEAD_BYTES)).hexdigest()


class _Lines:
    """Decoded lines of a binary stream, counting the bytes and lines consumed."""

    def __init__(self, stream: IO[bytes], offset: int, line_no: int, encoding: str) -> None:
        self.stream = stream
        self.offset = offset
        self.line_no = line_no
        self.encoding = encoding

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.offset += len(raw)
            self.line_no += 1
            yield raw.decode(self.encoding, errors="replace")


def read_csv(stream: IO[bytes], *, header: list[str], offset: int, line_no: int, delimiter: str,
             encoding: str) -> Iterator[_Record]:
    """CSV records after ``offset`` (quoted fields may span lines)."""
    lines = _Lines(stream, offset, line_no, encoding)
    reader = csv.reader(lines, delimiter=delimiter)
    while True:
        start = lines.line_no + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _Record(start, lines.offset, lines.line_no, None, f"malformed CSV: {exc}")
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            yield _Record(start, lines.offset, lines.line_no, None,
                          f"{len(row)} columns where the header has {len(header)}")
            continue
        yield _Record(start, lines.offset, lines.line_no, _CsvRow(zip(header, row, strict=True)))


def read_jsonl(stream: IO[bytes], *, offset: int, line_no: int, encoding: str) -> Iterator[_Record]:
    """JSON Lines records after ``offset``."""
    for raw in stream:
        offset += len(raw)
        line_no += 1
        text = raw.decode(encoding, errors="replace").strip()
        if not text:
            continue
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            yield _Record(line_no, offset, line_no, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(doc, dict):
            yield _Record(line_no, offset, line_no, None, "a line must hold a JSON object")
            continue
        yield _Record(line_no, offset, line_no, doc)


def run_import(
    path: Path,
    *,
    sessions: sessionmaker[Session],
    mapping: ImportMapping,
    fmt: str | None = None,
    batch_size: int = 1000,
    restart: bool = False,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
    progress: Callable[[int], None] | None = None,
    on_rejection: Callable[[Rejection], None] | None = None,
    stop_after_batches: int | None = None,
) -> ImportSummary:
    """Import ``path`` (or resume it); ``progress`` gets bytes consumed, ``stop_after_batches`` simulates a stop."""
    fmt = detect_format(path, fmt or mapping.format)
    if fmt == "csv" and len(delimiter) != 1:
        raise ImportError_("--delimiter must be one character")
    size = path.stat().st_size
    head = _head_hash(path)
    ident = import_id(path, fmt, mapping)
    summary = ImportSummary(str(path))
    with transaction(sessions) as session:
        repo = CheckpointRepository(session)
        if restart:
            repo.delete(ident)
        found = repo.get(ident)
        checkpoint = ImportCheckpoint(
            id=ident, path=str(path), file_size=size, head_sha256=head, byte_offset=0, line_no=0, accepted=0,
            duplicates=0, rejected=0, finished_at=None, updated_at=utcnow(),
        ) if found is None else ImportCheckpoint(**{c: getattr(found, c) for c in (
            "id", "path", "file_size", "head_sha256", "byte_offset", "line_no", "accepted", "duplicates", "rejected",
            "finished_at", "updated_at")})
    if found is not None and (checkpoint.head_sha256 != head or size < checkpoint.byte_offset):
        raise ImportError_(f"{path} changed since its import started; run again with --restart to import it anew")
    summary.accepted, summary.duplicates = checkpoint.accepted, checkpoint.duplicates
    summary.rejected = checkpoint.rejected
    summary.resumed_from_line = checkpoint.line_no
    if checkpoint.finished_at is not None and checkpoint.byte_offset >= size:
        summary.finished, summary.lines = True, checkpoint.line_no
        return summary
    if progress is not None and checkpoint.byte_offset:
        progress(checkpoint.byte_offset)

    trace = child_traceparent(None)
    with open(path, "rb") as stream, _Committer(sessions, checkpoint, summary, trace) as committer:
        records, active = _open_records(stream, fmt, mapping, checkpoint, delimiter, encoding)
        batch: list[FeedbackCreate] = []
        last: _Record | None = None
        reported = checkpoint.byte_offset
        batches = 0
        for record in records:
            last = record
            item, reason = _item(record, active)
            if item is not None:
                batch.append(item)
            else:
                _reject(summary, Rejection(record.line, reason or "invalid"), on_rejection, path)
            if len(batch) >= batch_size:
                committer.submit(batch, record, finished=False)
                batch = []
                batches += 1
                if progress is not None:
                    progress(record.end_offset - reported)
                    reported = record.end_offset
                if stop_after_batches is not None and batches >= stop_after_batches:
                    committer.wait()
                    summary.lines = record.end_line
                    return summary
        committer.wait()
        end = last or _Record(checkpoint.line_no, checkpoint.byte_offset, checkpoint.line_no, None)
        committer.submit(batch, end, finished=True)
        committer.wait()
        if progress is not None:
            progress(max(0, size - reported))
        summary.lines = end.end_line
        summary.finished = True
    return summary


def _open_records(stream: IO[bytes], fmt: str, mapping: ImportMapping, checkpoint: ImportCheckpoint,
                  delimiter: str, encoding: str) -> tuple[Iterator[_Record], ImportMapping]:
    if fmt == "jsonl":
        stream.seek(checkpoint.byte_offset)
        return read_jsonl(stream, offset=checkpoint.byte_offset, line_no=checkpoint.line_no, encoding=encoding), mapping
    first = stream.readline()
    try:
        header = next(csv.reader(io.StringIO(first.decode(encoding, errors="replace")), delimiter=delimiter))
    except StopIteration:
        raise ImportError_("the CSV file is empty (no header line)") from None
    except csv.Error as exc:
        raise ImportError_(f"the CSV header line cannot be read: {exc}") from None
    try:
        active = mapping.for_header(header)
    except MappingError as exc:
        raise ImportError_(str(exc)) from exc
    offset, line_no = (checkpoint.byte_offset, checkpoint.line_no) if checkpoint.byte_offset else (len(first), 1)
    stream.seek(offset)
    return read_csv(stream, header=header, offset=offset, line_no=line_no, delimiter=delimiter,
                    encoding=encoding), active


def _item(record: _Record, mapping: ImportMapping) -> tuple[FeedbackCreate | None, str | None]:
    if record.data is None:
        return None, record.error
    try:
        doc = mapping.document(record.data, nested=not isinstance(record.data, _CsvRow))
        return FeedbackCreate.model_validate(doc), None
    except RowError as exc:
        return None, str(exc)
    except ValidationError as exc:
        reasons = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()[:3])
        return None, reasons


def _reject(summary: ImportSummary, rejection: Rejection, on_rejection: Callable[[Rejection], None] | None,
            path: Path) -> None:
    summary.rejected += 1
    if len(summary.rejections) < KEPT_REJECTIONS:
        summary.rejections.append(rejection)
    if on_rejection is not None:
        on_rejection(rejection)
    record_rejection("import", path.name, "invalid_row", rejection.reason, line=rejection.line)


class _Committer:
    """Commits batches in order on one thread, so that reading the next batch overlaps the database's work."""

    def __init__(self, sessions: sessionmaker[Session], checkpoint: ImportCheckpoint, summary: ImportSummary,
                 trace: str) -> None:
        self._args = (sessions, checkpoint, summary, trace)
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="import-commit")
        self._pending: Future[None] | None = None

    def submit(self, batch: list[FeedbackCreate], last: _Record, *, finished: bool) -> None:
        """Commit ``batch`` with the checkpoint after ``last``, once the batch before it has committed."""
        self.wait()
        sessions, checkpoint, summary, trace = self._args
        # The rejections counted so far belong to this batch's checkpoint; the reader goes on counting meanwhile.
        self._pending = self._pool.submit(_commit, sessions, batch, last, checkpoint, summary, trace,
                                          finished=finished, rejected=summary.rejected)

    def wait(self) -> None:
        """Wait for the batch in flight; its failure is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> _Committer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True)


def _commit(sessions: sessionmaker[Session], batch: list[FeedbackCreate], last: _Record, checkpoint: ImportCheckpoint,
            summary: ImportSummary, trace: str, *, finished: bool, rejected: int) -> None:
    with transaction(sessions) as session:
        if batch:
            (result,) = accept_intake(session=session, units=[Intake(traceparent=trace, feedback=batch)])
            summary.accepted += sum(o.status == "accepted" for o in result.feedback)
            summary.duplicates += sum(o.status == "duplicate" for o in result.feedback)
        checkpoint.byte_offset = last.end_offset
        checkpoint.line_no = last.end_line
        checkpoint.accepted, checkpoint.duplicates, checkpoint.rejected = (
            summary.accepted, summary.duplicates, rejected)
        checkpoint.updated_at = utcnow()
        checkpoint.finished_at = utcnow() if finished else None
        CheckpointRepository(session).save(checkpoint)
