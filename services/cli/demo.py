"""The demo company's feedback, posted through the real ingest API on first start."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

DEMO_FEEDBACK = Path(__file__).resolve().parent.parent / "demo" / "feedback.jsonl"


def load_demo_feedback(ingest_url: str, api_key: str, path: Path = DEMO_FEEDBACK) -> int:
    """POST every demo item to ingest in one batch; returns how many were accepted."""
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    response = httpx.post(
        f"{ingest_url}/v1/feedback", json={"items": items}, headers={"X-API-Key": api_key}, timeout=30.0
    )
    response.raise_for_status()
    return int(response.json()["accepted"])
