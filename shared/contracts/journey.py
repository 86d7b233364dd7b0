"""What journey tells other teams: alerts, customer story changes, and new journey map versions."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class AssetState(StrEnum):
    """A customer seen as an asset of the business."""

    GROWING = "growing"
    STABLE = "stable"
    AT_RISK = "at_risk"
    LOST = "lost"


class StateReason(BaseModel):
    """One reason behind a customer's state or health, in words a person can check."""

    model_config = ConfigDict(frozen=True)

    code: str = Field(examples=["detractor"])
    detail: str = Field(examples=["latest NPS 4 on 2026-11-02"])
    points: int = Field(0, description="What it did to the health score.")


class CustomerStoryChanged(BaseModel):
    """A customer's asset state changed (published on ``lp.customer.story.v1``)."""

    model_config = ConfigDict(frozen=True)

    customer_id: str = Field(examples=["cu_3f2a9c01d4b7e6a8"])
    previous_state: AssetState | None
    state: AssetState
    health: int = Field(ge=0, le=100)
    reasons: list[StateReason]
    value: float | None = Field(None, description="Current value (ARR or lifetime value) from the CRM.")
    segment: str | None = None
    as_of: datetime = Field(description="The touchpoint that changed the state.")


class AlertKind(StrEnum):
    """Why journey raised an alert."""

    HIGH_VALUE_VOICE = "high_value_voice"
    TARGET_MISSED = "target_missed"
    TARGET_MET = "target_met"
    NEGATIVE_SPIKE = "negative_spike"


class JourneyAlert(BaseModel):
    """Something on the journey needs a person's attention (published on ``lp.journey.alerts.v1``)."""

    model_config = ConfigDict(frozen=True)

    alert_id: str
    kind: AlertKind
    severity: Literal["info", "warning", "critical"]
    title: str = Field(examples=["First login works missed its target: negative share 0.34 > 0.20"])
    stage: str | None = None
    experience: str | None = Field(None, description="Priority experience id, for target alerts.")
    owner: str | None = None
    customer_id: str | None = None
    feedback_id: str | None = None
    customer_value: float | None = None
    occurred_at: datetime = Field(description="Time of the data that raised it (not of processing).")
    evidence: dict[str, Any] = Field(default_factory=dict, description="The numbers behind the alert.")
