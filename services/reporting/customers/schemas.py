"""Response shapes of the customers API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from shared.contracts import AssetState, StateReason


class CustomerSummary(BaseModel):
    """A customer as an asset."""

    id: str = Field(examples=["cu_3f2a9c01d4b7e6a8"])
    name: str | None = Field(description="The company's id for them, or their handle (never an email).")
    state: AssetState
    health: int
    value: float | None
    currency: str | None
    segment: str | None
    owner: str | None
    nps_latest: int | None
    nps_category: str | None
    sentiment_trend: float | None
    last_touch_at: datetime | None
    touchpoints: int
    reasons: list[StateReason]


class CustomerPage(BaseModel):
    """One page of customers, most valuable first."""

    items: list[CustomerSummary]
    next_cursor: str | None


class TimelineEntry(BaseModel):
    """One touchpoint: a voice or a CRM event."""

    at: datetime
    type: Literal["voice", "crm"]
    id: str
    source: str | None = None
    provider: str | None = None
    stage: str | None = None
    sentiment: str | None = None
    sentiment_score: float | None = None
    nps: int | None = None
    csat: int | None = None
    text: str | None = None
    event_kind: str | None = None
    value_delta: float | None = None


class StageTouched(BaseModel):
    """A stage of the journey this customer spoke about, and where it hurt."""

    stage: str
    voices: int
    negative: int
    last_pain: str | None = Field(description="Their most recent negative verbatim about the stage.")


class StateChangeOut(BaseModel):
    """A change of asset state."""

    at: datetime
    from_state: AssetState | None
    to_state: AssetState
    value: float | None


class CustomerStory(BaseModel):
    """Everything the company knows about one customer's life with it."""

    customer: CustomerSummary
    merged_ids: list[str] = Field(description="Customer ids found to be this customer.")
    stages: list[StageTouched]
    state_history: list[StateChangeOut]
    timeline: list[TimelineEntry] = Field(description="Newest first (up to 500).")
