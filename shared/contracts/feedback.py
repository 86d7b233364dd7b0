"""Feedback payloads: what ingest publishes and what nlp adds to it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, EmailStr, Field


class FeedbackKind(StrEnum):
    """Whether the customer was asked (a survey) or spoke unprompted (a post, a review)."""

    AIDED = "aided"
    UNAIDED = "unaided"


class FeedbackSource(StrEnum):
    """The family of channel the feedback came from."""

    SURVEY = "survey"
    SUPPORT = "support"
    CRM = "crm"
    SOCIAL = "social"
    REVIEW = "review"
    OTHER = "other"


class SentimentLabel(StrEnum):
    """Three-way sentiment."""

    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class StageMethod(StrEnum):
    """How the journey stage was decided."""

    SOURCE_HINT = "source_hint"
    KEYWORD = "keyword"
    MODEL = "model"
    NONE = "none"


def customer_key(customer_id: str | None, email: str | None, handle: str | None) -> str | None:
    """The partition key of a customer reference: ``id:…``, else ``email:…``, else ``handle:…`` (lower-cased)."""
    if customer_id:
        return f"id:{customer_id}"
    if email:
        return f"email:{email.lower()}"
    if handle:
        return f"handle:{handle.lower()}"
    return None


class CustomerRef(BaseModel):
    """Whatever identifies the customer behind an item; any or none may be known."""

    model_config = ConfigDict(frozen=True)

    id: str | None = Field(None, max_length=200, description="The company's own customer id.", examples=["C-1042"])
    email: EmailStr | None = Field(None, description="Customer email address.", examples=["ana@example.com"])
    handle: str | None = Field(
        None, max_length=200, description="Social handle or reviewer name.", examples=["@ana"]
    )

    def key(self) -> str | None:
        """The partition key for per-customer ordering: id, else email, else handle."""
        return customer_key(self.id, self.email, self.handle)


class Scores(BaseModel):
    """Survey scores on their standard scales."""

    model_config = ConfigDict(frozen=True)

    nps: int | None = Field(None, ge=0, le=10, description="Likelihood to recommend, 0-10.", examples=[9])
    csat: int | None = Field(None, ge=1, le=5, description="Satisfaction, 1-5.", examples=[4])
    ces: int | None = Field(None, ge=1, le=7, description="Customer effort, 1-7 (7 = easiest).", examples=[6])
    rating: float | None = Field(None, ge=0, le=5, description="Star rating, 0-5.", examples=[4.5])


class FeedbackReceived(BaseModel):
    """One piece of feedback, normalised from any channel, as stored by ingest."""

    model_config = ConfigDict(frozen=True)

    feedback_id: str = Field(description="Listening Path's id for the item.", examples=["fb_7Qm2x9"])
    kind: FeedbackKind = Field(description="aided (asked) or unaided (unprompted).")
    source: FeedbackSource = Field(description="Channel family.")
    provider: str = Field(description="The tool it came from.", examples=["typeform"])
    external_id: str = Field(description="The provider's id for the item (dedupe key with provider).")
    text: str = Field(description="The customer's own words (may be empty for a score-only answer).")
    customer: CustomerRef = Field(default_factory=CustomerRef)
    scores: Scores = Field(default_factory=Scores)
    occurred_at: datetime = Field(description="When the customer said it.")
    received_at: datetime = Field(description="When ingest accepted it.")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Provider fields kept verbatim.")


class SentimentTag(BaseModel):
    """Sentiment of one text."""

    model_config = ConfigDict(frozen=True)

    label: SentimentLabel
    score: float = Field(ge=-1, le=1, description="-1 most negative .. +1 most positive.")
    confidence: float = Field(ge=0, le=1, description="Probability of the chosen label.")


class StageCandidate(BaseModel):
    """A stage the item may belong to, with the model's confidence."""

    model_config = ConfigDict(frozen=True)

    id: str
    confidence: float = Field(ge=0, le=1)


class StageTag(BaseModel):
    """The journey stage an item is about, against the loaded journey map."""

    model_config = ConfigDict(frozen=True)

    id: str | None = Field(description="Stage id from the journey map, or null when nothing fits.")
    confidence: float = Field(ge=0, le=1)
    method: StageMethod
    alternatives: list[StageCandidate] = Field(default_factory=list, description="Runner-up stages.")


class FeedbackEnriched(BaseModel):
    """Feedback with the NLP service's tags; ``feedback.text`` is PII-redacted."""

    model_config = ConfigDict(frozen=True)

    feedback: FeedbackReceived
    sentiment: SentimentTag
    stage: StageTag
    language: str = Field(description="ISO 639-1 code, or 'und' when unknown.", examples=["en"])
    key_phrases: list[str] = Field(default_factory=list)
    redactions: list[str] = Field(
        default_factory=list, description="Kinds of PII removed from the text.", examples=[["email"]]
    )
    journey_map_version: int = Field(description="Version of the journey map the stage was tagged against.")
    model_version: str = Field(description="Version of the NLP models that tagged it.")
