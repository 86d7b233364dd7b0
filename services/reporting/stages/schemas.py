"""Response shapes of ``GET /v1/stages``."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class SentimentMix(BaseModel):
    """Counts per sentiment label."""

    negative: int = 0
    neutral: int = 0
    positive: int = 0


class Phrase(BaseModel):
    """A key phrase customers used about the stage, with examples."""

    phrase: str
    count: int
    negative: int
    examples: list[str] = Field(description="Up to two verbatims using it in the period (PII-redacted): the most "
                                "negative, then the newest.")


class StageWeek(BaseModel):
    """One 7-day window of a stage."""

    week_start: date
    volume: int
    negative_share: float | None
    nps: float | None


class StageSummary(BaseModel):
    """The health of one stage over the period."""

    id: str | None = Field(description="Stage id; null for items no stage fitted.")
    name: str
    order: int | None
    volume: int
    sentiment: SentimentMix
    negative_share: float | None = Field(description="negative / volume; null when there is no volume.")
    mean_sentiment: float | None
    nps: float | None = Field(description="Net Promoter Score of the NPS answers about this stage (-100..100).")
    csat: float | None = Field(description="% of CSAT answers that are 4 or 5.")
    ces: float | None = Field(description="Mean customer effort score (1-7, 7 = easiest).")
    aided: int = Field(description="Voices the customer was asked for (surveys, support).")
    unaided: int = Field(description="Voices given unprompted (social, reviews).")
    top_phrases: list[Phrase] = Field(default_factory=list)
    trend: list[StageWeek] = Field(default_factory=list,
                                   description="The 8 weeks (7-day windows, days of `tz`) ending on `until`.")


class StagesReport(BaseModel):
    """Every stage of the journey map, in journey order, then the unstaged items."""

    since: date
    until: date
    tz: str = Field("UTC", description="The time zone whose days the period and trend windows are.")
    journey_map_version: int
    stages: list[StageSummary]
