"""Request and response of ``POST /v1/analyze``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts import JourneyMap, SentimentTag, StageTag


class AnalyzeItem(BaseModel):
    """One text to tag, with what source hints may match on."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = Field(None, max_length=200)
    text: str = Field(max_length=1_000_000)
    provider: str | None = Field(None, max_length=64)
    metadata: dict[str, Any] = Field(default_factory=dict)


class AnalyzeRequest(BaseModel):
    """Texts to tag, optionally against a journey map given inline (to try a map before it goes live)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"items": [{"id": "1", "text": "Setup took forever and support never "
                                                    "answered my email."}]}]},
    )

    items: list[AnalyzeItem] = Field(min_length=1)
    journey_map: JourneyMap | None = None


class AnalyzeResult(BaseModel):
    """The tags of one text."""

    id: str | None
    sentiment: SentimentTag
    stage: StageTag
    language: str
    key_phrases: list[str]
    redacted_text: str
    redactions: list[str]


class AnalyzeResponse(BaseModel):
    """Tags in request order."""

    journey_map_version: int
    model_version: str
    results: list[AnalyzeResult]
