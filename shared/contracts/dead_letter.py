"""What a consumer writes to its dead-letter topic for a message it can never process."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class DeadLetter(BaseModel):
    """An unprocessable message, the reason, and where it came from (so it can be fixed and replayed)."""

    model_config = ConfigDict(frozen=True)

    consumer_group: str = Field(examples=["lp-nlp"])
    reason: str = Field(description="Machine-readable code, a colon, then the detail.",
                        examples=["invalid_event: data.text: Field required"])
    topic: str
    partition: int
    offset: int
    key: str | None = None
    value: str = Field(description="The original message: UTF-8 text, or base64 when it was not UTF-8.")
    value_encoding: str = Field("utf-8", examples=["utf-8", "base64"])
    failed_at: datetime
