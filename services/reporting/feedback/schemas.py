"""Response shapes of ``GET /v1/feedback``."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from shared.contracts import FeedbackKind, FeedbackSource, Scores, SentimentLabel, StageMethod


class SentimentOut(BaseModel):
    """Sentiment as tagged."""

    label: SentimentLabel
    score: float
    confidence: float


class StageOut(BaseModel):
    """Journey stage as tagged."""

    id: str | None
    confidence: float
    method: StageMethod


class FeedbackOut(BaseModel):
    """One voice in the story (text PII-redacted)."""

    id: str = Field(examples=["fb_0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f"])
    kind: FeedbackKind
    source: FeedbackSource
    provider: str
    customer_id: str | None = Field(description="The customer (see /v1/customers/{id}); null when unknown.")
    experiences: list[str] = Field(description="Priority experiences this voice counts for.")
    text: str
    sentiment: SentimentOut
    stage: StageOut
    scores: Scores
    language: str
    key_phrases: list[str]
    redactions: list[str]
    occurred_at: datetime
    received_at: datetime = Field(description="When ingest accepted it.")
    stored_at: datetime = Field(description="When it reached the story store.")


class FeedbackPage(BaseModel):
    """One page of feedback, newest first."""

    items: list[FeedbackOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")
