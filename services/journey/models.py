"""The story store: journey's tables. Reporting reads them; only journey writes them.

``StageDay`` is a rollup kept up to date as items arrive, so stage summaries
read a few rows per day and stage rather than scanning every item.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, Float, Index, Integer, SmallInteger, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import JSONType, UTCDateTime, make_metadata

UNSTAGED = "_none"
"""Stage id under which items with no stage are rolled up (journey map ids cannot start with '_')."""


class StoryBase(DeclarativeBase):
    """Declarative base of the story store."""

    metadata = make_metadata()


class ProcessedEvent(StoryBase):
    """Event ids already applied: a redelivered event changes nothing."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FeedbackItem(StoryBase):
    """One tagged voice in the customer story (text is PII-redacted)."""

    __tablename__ = "feedback_items"
    __table_args__ = (
        Index("ix_feedback_items_stage_occurred", "stage_id", "occurred_at"),
        Index("ix_feedback_items_customer_occurred", "customer_key", "occurred_at"),
        Index("ix_feedback_items_sentiment_occurred", "sentiment_label", "occurred_at"),
        Index("ix_feedback_items_occurred_id", "occurred_at", "feedback_id"),
    )

    feedback_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))
    customer_key: Mapped[str | None] = mapped_column(String(300))
    provider: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    stage_id: Mapped[str | None] = mapped_column(String(64))
    stage_confidence: Mapped[float] = mapped_column(Float)
    stage_method: Mapped[str] = mapped_column(String(16))
    sentiment_label: Mapped[str] = mapped_column(String(10))
    sentiment_score: Mapped[float] = mapped_column(Float)
    sentiment_confidence: Mapped[float] = mapped_column(Float)
    nps: Mapped[int | None] = mapped_column(SmallInteger)
    csat: Mapped[int | None] = mapped_column(SmallInteger)
    ces: Mapped[int | None] = mapped_column(SmallInteger)
    rating: Mapped[float | None] = mapped_column(Float)
    language: Mapped[str] = mapped_column(String(8))
    key_phrases: Mapped[list[str]] = mapped_column(JSONType)
    redactions: Mapped[list[str]] = mapped_column(JSONType)
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType)
    journey_map_version: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StageDay(StoryBase):
    """Per day (UTC) and stage: volume and sentiment mix."""

    __tablename__ = "stage_days"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stage_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    volume: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)
    neutral: Mapped[int] = mapped_column(Integer, default=0)
    positive: Mapped[int] = mapped_column(Integer, default=0)
