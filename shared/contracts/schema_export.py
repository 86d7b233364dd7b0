"""JSON Schema export of every topic's event (envelope + payload), for other teams."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from shared.contracts.envelope import CloudEvent
from shared.contracts.topics import CONTRACTS


def topic_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of the full CloudEvent carried on each topic, by topic name."""
    out: dict[str, dict[str, Any]] = {}
    for contract in CONTRACTS:
        model = CloudEvent[contract.payload]  # type: ignore[name-defined]
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"https://listening-path.dev/schemas/{contract.topic}.json"
        schema["title"] = f"{contract.topic} ({contract.event_type})"
        schema["description"] = f"Produced by {contract.producer}; key: {contract.key}."
        out[contract.topic] = schema
    return out


def write_schemas(directory: Path) -> list[Path]:
    """Write one ``<topic>.json`` per topic; returns the files written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for topic, schema in topic_schemas().items():
        path = directory / f"{topic}.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


def write_asyncapi(directory: Path) -> Path:
    """Write ``asyncapi.yaml`` (the AsyncAPI 3.0 document of every topic)."""
    import yaml

    from shared.contracts.asyncapi import asyncapi_document

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "asyncapi.yaml"
    path.write_text(yaml.safe_dump(asyncapi_document(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path
