"""The generic feedback format of ``POST /v1/feedback`` (one item or ``{"items": [...]}``)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic.networks import validate_email

from shared.contracts.feedback import CustomerRef, FeedbackKind, FeedbackSource, Scores, customer_key


@lru_cache(maxsize=65536)
def normalised_email(value: str) -> str:
    """An address checked and normalised exactly as the contract's ``EmailStr`` does; raises ``ValueError``."""
    # The same check (and normal form) as the contract's EmailStr, remembered: customers write again and again,
    # and a full address validation costs more than the rest of accepting an item.
    return validate_email(value)[1]


Email = Annotated[str, AfterValidator(normalised_email), WithJsonSchema({"type": "string", "format": "email"})]


class CustomerIn(BaseModel):
    """Whatever identifies the customer behind an item (the ``CustomerRef`` contract, as input)."""

    model_config = ConfigDict(frozen=True)

    id: str | None = Field(None, max_length=200, description="The company's own customer id.", examples=["C-1042"])
    email: Email | None = Field(None, description="Customer email address.", examples=["ana@example.com"])
    handle: str | None = Field(None, max_length=200, description="Social handle or reviewer name.",
                               examples=["@ana"])

    def ref(self) -> CustomerRef:
        """The contract value (already validated to the same rules)."""
        return CustomerRef.model_construct(id=self.id, email=self.email, handle=self.handle)

    def key(self) -> str | None:
        """The partition key, as ``CustomerRef.key`` (without building one)."""
        return customer_key(self.id, self.email, self.handle)

ASKED_SOURCES = frozenset({FeedbackSource.SURVEY, FeedbackSource.SUPPORT, FeedbackSource.CRM})


class FeedbackCreate(BaseModel):
    """One piece of feedback in the generic format."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "survey",
                    "provider": "typeform",
                    "external_id": "resp-8812",
                    "text": "Setting up the integration took two days, the docs were out of date.",
                    "customer": {"id": "C-1042", "email": "ana@example.com"},
                    "scores": {"nps": 6},
                    "occurred_at": "2026-11-02T14:05:00Z",
                    "metadata": {"form_id": "onboarding-csat"},
                }
            ]
        },
    )

    source: FeedbackSource = Field(FeedbackSource.OTHER, description="Channel family.")
    kind: FeedbackKind | None = Field(
        None, description="aided or unaided; by default aided for survey, support and crm sources."
    )
    provider: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", description="The tool it came from.",
                          examples=["typeform"])
    external_id: str | None = Field(
        None, min_length=1, max_length=200,
        description="The provider's id; with provider, the dedupe key. Without it, a hash of the content is used.",
    )
    text: str = Field("", max_length=20_000, description="The customer's words.")
    customer: CustomerIn = Field(default_factory=CustomerIn)
    scores: Scores = Field(default_factory=Scores)
    occurred_at: datetime | None = Field(None, description="When it was said (ISO 8601); default: now. "
                                         "A time without a zone is taken as UTC.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Provider fields, kept verbatim.")

    @field_validator("occurred_at")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @model_validator(mode="after")
    def _says_something(self) -> FeedbackCreate:
        scores = self.scores
        if not self.text.strip() and scores.nps is None and scores.csat is None and scores.ces is None \
                and scores.rating is None:
            raise ValueError("an item needs text or at least one score")
        return self

    def resolved_kind(self) -> FeedbackKind:
        """The kind given, or the default for the source."""
        if self.kind is not None:
            return self.kind
        return FeedbackKind.AIDED if self.source in ASKED_SOURCES else FeedbackKind.UNAIDED


class FeedbackBatchCreate(BaseModel):
    """Several items in one request."""

    model_config = ConfigDict(extra="forbid")

    items: list[FeedbackCreate] = Field(min_length=1)


class ItemOutcome(BaseModel):
    """What happened to one item."""

    id: str = Field(description="Listening Path's feedback id (the existing one for a duplicate).")
    status: Literal["accepted", "duplicate"]


class BatchOutcome(BaseModel):
    """What happened to each item of a batch, in request order."""

    items: list[ItemOutcome]
    accepted: int
    duplicates: int
