"""How the columns (CSV) or fields (JSONL) of an export map onto the generic feedback format.

Targets: ``provider``, ``source``, ``kind``, ``external_id``, ``text``, ``occurred_at``, ``customer.id``,
``customer.email``, ``customer.handle``, ``scores.nps``, ``scores.csat``, ``scores.ces``, ``scores.rating`` and
``metadata.<name>``. Given by ``--map TARGET=COLUMN`` flags or a small YAML file::

    format: csv
    provider: qualtrics-export
    source: survey
    columns: {text: Comment, external_id: ResponseId, scores.nps: Q1, customer.email: RecipientEmail}
    metadata: rest          # rest (every unmapped column, the default) | none | [Region, Plan]
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

TARGETS = frozenset({
    "provider", "source", "kind", "external_id", "text", "occurred_at", "customer.id", "customer.email",
    "customer.handle", "scores.nps", "scores.csat", "scores.ces", "scores.rating",
})
ALIASES = {
    "nps": "scores.nps", "csat": "scores.csat", "ces": "scores.ces", "rating": "scores.rating",
    "customer_id": "customer.id", "email": "customer.email", "customer_email": "customer.email",
    "handle": "customer.handle", "id": "external_id", "comment": "text", "feedback": "text",
    "created_at": "occurred_at", "date": "occurred_at",
}
INTEGER_SCORES = frozenset({"scores.nps", "scores.csat", "scores.ces"})


class MappingError(ValueError):
    """A mapping that cannot be used, with the reason."""


class RowError(ValueError):
    """One row that cannot be mapped, with the reason."""


@dataclass(frozen=True)
class ImportMapping:
    """Target field → source column (CSV) or dotted path (JSONL), plus defaults."""

    columns: Mapping[str, str] = field(default_factory=dict)
    defaults: Mapping[str, str] = field(default_factory=dict)
    metadata: Literal["rest", "none"] | tuple[str, ...] = "rest"
    format: Literal["csv", "jsonl"] | None = None

    def fingerprint(self) -> str:
        """A stable text of the mapping (part of an import's identity, so a changed mapping restarts)."""
        return json.dumps({"columns": dict(self.columns), "defaults": dict(self.defaults),
                           "metadata": self.metadata, "format": self.format}, sort_keys=True)

    def for_header(self, header: Sequence[str]) -> ImportMapping:
        """For a CSV without explicit columns: map the columns whose names are targets or known aliases."""
        if self.columns:
            missing = sorted(set(self.columns.values()) - set(header))
            if missing:
                raise MappingError(f"mapped columns not in the file: {', '.join(missing)}")
            return self
        guessed: dict[str, str] = {}
        for column in header:
            name = column.strip()
            target = name if name in TARGETS or name.startswith("metadata.") else ALIASES.get(name.lower())
            if target and target not in guessed:
                guessed[target] = column
        return ImportMapping(guessed, self.defaults, self.metadata, self.format)

    def document(self, record: Mapping[str, Any], *, nested: bool) -> dict[str, Any]:
        """One record as a generic-format document (not yet validated)."""
        doc: dict[str, Any]
        if nested and not self.columns:
            doc = dict(record)
            for key, default in self.defaults.items():
                doc.setdefault(key, default)
            return doc
        doc = {}
        used: set[str] = set()
        for target, column in self.columns.items():
            value = _lookup(record, column) if nested else record.get(column)
            used.add(column.split(".")[0] if nested else column)
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            if target.startswith("scores."):
                value = _number(target, value)
            elif isinstance(value, int | float) and not isinstance(value, bool) and not target.startswith("metadata"):
                value = str(value)  # ids and texts exported as JSON numbers
            _put(doc, target, value)
        for key, default in self.defaults.items():
            doc.setdefault(key, default)
        metadata = doc.setdefault("metadata", {})
        if self.metadata == "rest":
            for column, value in record.items():
                if column not in used and value not in (None, ""):
                    metadata.setdefault(column, value)
        elif isinstance(self.metadata, tuple):
            for column in self.metadata:
                if record.get(column) not in (None, ""):
                    metadata[column] = record[column]
        return doc


def _lookup(record: Mapping[str, Any], path: str) -> Any:
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _put(doc: dict[str, Any], target: str, value: Any) -> None:
    head, _, rest = target.partition(".")
    if rest:
        doc.setdefault(head, {})[rest] = value
    else:
        doc[head] = value


def _number(target: str, value: Any) -> Any:
    if isinstance(value, int | float):
        return value
    text = str(value).strip()
    try:
        number = float(text.replace(",", ".")) if text.count(",") == 1 and "." not in text else float(text)
    except ValueError:
        raise RowError(f"{target}: {text[:40]!r} is not a number") from None
    if target in INTEGER_SCORES:
        if not number.is_integer():
            raise RowError(f"{target}: {text[:40]!r} is not a whole number")
        return int(number)
    return number


def parse_flags(flags: Sequence[str]) -> dict[str, str]:
    """``TARGET=COLUMN`` flags → mapping; raises ``MappingError``."""
    columns: dict[str, str] = {}
    for flag in flags:
        target, sep, column = flag.partition("=")
        target = ALIASES.get(target.strip(), target.strip())
        if not sep or not column:
            raise MappingError(f"--map {flag!r}: expected TARGET=COLUMN")
        if target not in TARGETS and not target.startswith("metadata."):
            known = ", ".join(sorted(TARGETS))
            raise MappingError(f"--map {flag!r}: {target!r} is not one of {known} or metadata.NAME")
        columns[target] = column
    return columns


def load_mapping(*, flags: Sequence[str] = (), path: Path | None = None,
                 defaults: Mapping[str, str | None] | None = None, fmt: str | None = None) -> ImportMapping:
    """The mapping from a YAML file and/or flags (flags win), with default provider/source/kind."""
    columns: dict[str, str] = {}
    doc_defaults: dict[str, str] = {}
    metadata: Literal["rest", "none"] | tuple[str, ...] = "rest"
    file_format: str | None = None
    if path is not None:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise MappingError(f"cannot read {path}: {exc}") from exc
        if not isinstance(doc, dict):
            raise MappingError(f"{path}: a mapping file is a YAML mapping")
        columns.update(parse_flags([f"{k}={v}" for k, v in (doc.get("columns") or {}).items()]))
        doc_defaults.update({k: str(doc[k]) for k in ("provider", "source", "kind") if doc.get(k)})
        raw_meta = doc.get("metadata", "rest")
        metadata = tuple(raw_meta) if isinstance(raw_meta, list) else ("none" if raw_meta == "none" else "rest")
        file_format = doc.get("format")
    columns.update(parse_flags(flags))
    doc_defaults.update({k: v for k, v in (defaults or {}).items() if v})
    chosen = fmt or file_format
    if chosen not in (None, "csv", "jsonl"):
        raise MappingError(f"format {chosen!r}: expected csv or jsonl")
    return ImportMapping(columns, doc_defaults, metadata, chosen)  # type: ignore[arg-type]
