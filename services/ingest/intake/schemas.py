"""What one request (or poll, or import batch) hands to the intake pipeline, and what it gets back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from services.ingest.feedback.schemas import FeedbackCreate, ItemOutcome
from shared.contracts import CustomerEvent


@dataclass(frozen=True)
class FetchRequest:
    """A webhook envelope whose content the fetch worker must get from the provider's API."""

    provider: str
    external_id: str
    envelope: dict[str, Any]


@dataclass(frozen=True)
class StoredResponse:
    """An answer kept for an ``Idempotency-Key``."""

    request_hash: str
    status_code: int
    body: dict[str, Any]


ResponseRenderer = Callable[["IntakeResult"], tuple[int, dict[str, Any]]]


@dataclass(frozen=True)
class IdempotencyRequest:
    """The ``Idempotency-Key`` of a request, a hash of its body, and how to render its answer for keeping."""

    key: str
    request_hash: str
    render: ResponseRenderer


@dataclass(frozen=True)
class Intake:
    """One unit of work: normalised records to store in one go, all or nothing."""

    traceparent: str
    feedback: Sequence[FeedbackCreate] = ()
    customer_events: Sequence[CustomerEvent] = ()
    fetches: Sequence[FetchRequest] = ()
    idempotency: IdempotencyRequest | None = None

    @property
    def size(self) -> int:
        """How many records it carries."""
        return len(self.feedback) + len(self.customer_events) + len(self.fetches)


@dataclass
class IntakeResult:
    """The outcome of each record, in the order given; or the kept answer of an earlier identical request."""

    feedback: list[ItemOutcome] = field(default_factory=list)
    customer_events: list[ItemOutcome] = field(default_factory=list)
    fetches: list[ItemOutcome] = field(default_factory=list)
    replayed: StoredResponse | None = None
    key_conflict: bool = False

    @property
    def accepted(self) -> int:
        """Records stored for the first time."""
        return sum(o.status == "accepted" for o in (*self.feedback, *self.customer_events, *self.fetches))

    @property
    def duplicates(self) -> int:
        """Records that were already stored."""
        return sum(o.status == "duplicate" for o in (*self.feedback, *self.customer_events, *self.fetches))


class WebhookOutcome(BaseModel):
    """The answer to a provider's webhook call."""

    status: Literal["accepted", "duplicate", "queued", "ignored"] = Field(
        description="accepted: something new was stored; duplicate: all of it was stored before; queued: the "
        "envelope is stored and its content will be fetched from the provider's API; ignored: nothing in it "
        "is feedback or a customer event."
    )
    accepted: int = 0
    duplicates: int = 0
    queued: int = 0
    items: list[ItemOutcome] = Field(default_factory=list, description="Feedback and customer events, in order.")
    reason: str | None = Field(None, description="Why the call was ignored.")
