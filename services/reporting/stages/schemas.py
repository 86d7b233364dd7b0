"""Response shapes of ``GET /v1/stages``."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class SentimentMix(BaseModel):
    """Counts per sentiment label."""

    negative: int = 0
    neutral: int = 0
    positive: int = 0


class StageSummary(BaseModel):
    """Volume and sentiment mix of one stage over the period."""

    id: str | None = Field(description="Stage id; null for items no stage fitted.")
    name: str
    order: int | None
    volume: int
    sentiment: SentimentMix
    negative_share: float | None = Field(description="negative / volume; null when there is no volume.")


class StagesReport(BaseModel):
    """Every stage of the journey map, in journey order, then the unstaged items."""

    since: date | None
    until: date | None
    journey_map_version: int
    stages: list[StageSummary]
