"""Customer events from CRM and billing: the behaviour that shows a customer growing or being lost."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.feedback import CustomerRef


class CustomerEventKind(StrEnum):
    """What happened to the relationship."""

    CREATED = "created"
    UPDATED = "updated"
    PURCHASE = "purchase"
    UPGRADE = "upgrade"
    DOWNGRADE = "downgrade"
    RENEWAL = "renewal"
    CANCELLATION = "cancellation"


class CustomerEvent(BaseModel):
    """One change in a customer relationship, normalised from a CRM."""

    model_config = ConfigDict(frozen=True)

    event_kind: CustomerEventKind
    provider: str = Field(examples=["hubspot"])
    external_id: str = Field(description="The CRM's id for this change (dedupe key with provider).")
    customer: CustomerRef
    occurred_at: datetime
    segment: str | None = Field(None, examples=["enterprise"])
    value: float | None = Field(None, description="Annual recurring revenue or lifetime value after the event.")
    value_delta: float | None = Field(None, description="Change of value the event brought (+ growth, - loss).")
    currency: str | None = Field(None, min_length=3, max_length=3, examples=["EUR"])
    owner: str | None = Field(None, description="Account owner.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="CRM fields kept verbatim.")
