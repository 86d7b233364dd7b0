"""CloudEvents 1.0 structured-JSON envelope that every Listening Path event travels in.

Every message on every ``lp.*`` topic is one JSON object in this shape. The
``data`` member holds the payload model of the topic (see ``topics.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from shared.ids import event_id

DataT = TypeVar("DataT", bound=BaseModel)

EVENT_TYPE_PREFIX = "io.listeningpath"


def new_event_id() -> str:
    """A fresh, globally unique event id: a version 7 UUID, ordered by time (see ``shared/ids.py``)."""
    return event_id()


def utcnow() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)


class CloudEvent(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 envelope (structured JSON mode) around one payload."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents specification version.")
    id: str = Field(
        default_factory=new_event_id,
        description="Unique id of this event; consumers deduplicate on it (delivery is at-least-once).",
        examples=["5b1f0c8e-3d7a-4c3e-9f0e-2f4c1b9a7d10"],
    )
    source: str = Field(
        description="The service that produced the event.", examples=["/listening-path/ingest"]
    )
    type: str = Field(
        description="Event type, reverse-DNS and versioned.",
        examples=["io.listeningpath.feedback.received.v1"],
    )
    time: datetime = Field(default_factory=utcnow, description="When the event was produced (UTC).")
    subject: str | None = Field(
        None, description="What the event is about: the feedback id or customer key.", examples=["fb_01"]
    )
    datacontenttype: Literal["application/json"] = "application/json"
    traceparent: str | None = Field(
        None,
        description="W3C trace context carried from the original request through every event.",
        examples=["00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"],
    )
    data: DataT

    def to_bytes(self) -> bytes:
        """Serialise to the structured-JSON wire form (nulls included: the published schemas require them)."""
        return self.model_dump_json().encode("utf-8")
