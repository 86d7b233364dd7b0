"""The story store: journey's tables. Reporting reads them; only journey writes them.

Everything here is a projection of the events journey consumed, so it can be
rebuilt by replaying them (``listening-path journey rebuild``). Rollups
(``stage_days``, ``experience_days``, ``stage_day_phrases``, and the same per
UTC quarter-hour: ``stage_quarters``, ``experience_quarters``, ``stage_quarter_phrases``) are
kept up to date as items arrive, so summaries read a few rows per day (and per
quarter-hour at the edges of days of other time zones) rather than scanning items;
stage and phrase rollups also name example voices, read by primary key.
Emails are stored only as keyed hashes.

Full-text search over ``feedback_items.text`` is an index the migrations keep
(revisions 0003 and 0012), outside these models because it differs by backend: on
SQLite the FTS5 table ``feedback_search`` (contentless, its rows keyed by when
each voice happened, kept in step by triggers), on PostgreSQL the generated ``tsvector`` column ``search_vector``
with a GIN index. ``services/reporting/feedback/search.py`` queries both.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy import text as sql_text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import JSONType, UTCDateTime, make_metadata
from shared.outbox import OutboxColumns

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


class JourneyMapVersion(StoryBase):
    """Every journey map version ever in force; the highest is the current one."""

    __tablename__ = "journey_map_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    company: Mapped[str] = mapped_column(String(200))
    document: Mapped[dict[str, Any]] = mapped_column(JSONType)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    published_by: Mapped[str | None] = mapped_column(String(200))


class Customer(StoryBase):
    """One customer, as the whole company sees them, with their current state as an asset."""

    __tablename__ = "customers"
    __table_args__ = (
        Index("ix_customers_state_value", "state", "value"),
        Index("ix_customers_state_alive", "state", "merged_into", "first_seen_at", "value"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    display_name: Mapped[str | None] = mapped_column(String(200), doc="Company id or handle; never an email.")
    merged_into: Mapped[str | None] = mapped_column(String(40), index=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_touch_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    segment: Mapped[str | None] = mapped_column(String(100), index=True)
    value: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str | None] = mapped_column(String(3))
    owner: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(10), default="stable")
    health: Mapped[int] = mapped_column(SmallInteger, default=60)
    reasons: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    nps_latest: Mapped[int | None] = mapped_column(SmallInteger)
    nps_category: Mapped[str | None] = mapped_column(String(10))
    sentiment_trend: Mapped[float | None] = mapped_column(Float)
    touchpoints: Mapped[int] = mapped_column(Integer, default=0)


class CustomerIdentity(StoryBase):
    """One identifier of a customer: their id in the company, a hashed email, a handle, a CRM id."""

    __tablename__ = "customer_identities"

    kind: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[str] = mapped_column(String(300), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40), index=True)


class CustomerMerge(StoryBase):
    """Two customers found to be one: recorded, and reversible."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    survivor_id: Mapped[str] = mapped_column(String(40), index=True)
    merged_id: Mapped[str] = mapped_column(String(40), index=True)
    identities: Mapped[list[list[str]]] = mapped_column(JSONType, doc="[kind, value] pairs moved to the survivor.")
    reason: Mapped[str] = mapped_column(String(300))
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime())
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CustomerEventRecord(StoryBase):
    """A relationship change from the CRM (purchase, upgrade, cancellation...)."""

    __tablename__ = "customer_events"
    __table_args__ = (
        UniqueConstraint("provider", "external_id", name="uq_customer_events_provider_external_id"),
        Index("ix_customer_events_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_customer_events_occurred", "occurred_at"),
        Index("ix_customer_events_occurred_value", "occurred_at", "kind", "value_delta"),
    )

    event_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    value_delta: Mapped[float] = mapped_column(Float, doc="Effective change of value (+ growth, - loss).")
    segment: Mapped[str | None] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StateChange(StoryBase):
    """A customer's asset state changed at a touchpoint (the history behind the ledger)."""

    __tablename__ = "customer_state_changes"
    __table_args__ = (
        Index("ix_customer_state_changes_at", "at"),
        Index("ix_customer_state_changes_at_first", "at", "customer_id", "seq", "from_state"),
        Index("ix_customer_state_changes_to_at", "to_state", "at", "customer_id", "last_negative_stage"),
    )

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_state: Mapped[str | None] = mapped_column(String(10))
    to_state: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float, doc="Customer value just before the change.")
    last_negative_stage: Mapped[str | None] = mapped_column(String(64))


class FeedbackItem(StoryBase):
    """One tagged voice in the customer story (text is PII-redacted)."""

    __tablename__ = "feedback_items"
    __table_args__ = (
        Index("ix_feedback_items_stage_occurred", "stage_id", "occurred_at"),
        Index("ix_feedback_items_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_feedback_items_sentiment_occurred", "sentiment_label", "occurred_at"),
        Index("ix_feedback_items_occurred_id", "occurred_at", "feedback_id"),
    )

    feedback_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(40))
    customer_id: Mapped[str | None] = mapped_column(String(40))
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
    experiences: Mapped[list[str]] = mapped_column(JSONType, default=list, server_default=sql_text("'[]'"))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType)
    journey_map_version: Mapped[int] = mapped_column(Integer)
    model_version: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stored_at: Mapped[datetime] = mapped_column(UTCDateTime())


CLUSTERED = {"sqlite_with_rowid": False}
"""Table options of the rollups: on SQLite, rows stored in their primary key's order (``WITHOUT ROWID``), so a
range of days or hours is read from one b-tree instead of an index and a lookup per row (journey migration 0010)."""


class RollupCounts:
    """The counters every rollup keeps; metric definitions (services/journey/metrics.py) read them."""

    volume: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    negative: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    neutral: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    positive: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sentiment_points: Mapped[int] = mapped_column(Integer, default=0, server_default="0",
                                                  doc="Sum of sentiment scores in 1/10,000ths (exact in any order).")
    promoters: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    passives: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    detractors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    csat_responses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    csat_satisfied: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ces_responses: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    ces_total: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    aided: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unaided: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


COUNTER_COLUMNS = (
    "volume", "negative", "neutral", "positive", "sentiment_points", "promoters", "passives", "detractors",
    "csat_responses", "csat_satisfied", "ces_responses", "ces_total", "aided", "unaided",
)


class RollupExamples:
    """Two example voices of a rollup row, chosen so the choice does not depend on arrival order.

    ``worst``: the lowest sentiment score (ties: the smallest feedback id); ``newest``: the latest
    ``occurred_at`` (ties: the largest feedback id). Reporting reads their text by primary key.
    """

    worst_id: Mapped[str | None] = mapped_column(String(40))
    worst_score: Mapped[float | None] = mapped_column(Float)
    newest_id: Mapped[str | None] = mapped_column(String(40))
    newest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


EXAMPLE_COLUMNS = ("worst_id", "worst_score", "newest_id", "newest_at")


class StageDay(RollupCounts, RollupExamples, StoryBase):
    """Per day (UTC) and stage."""

    __tablename__ = "stage_days"
    __table_args__ = CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stage_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ExperienceDay(RollupCounts, StoryBase):
    """Per day (UTC) and priority experience."""

    __tablename__ = "experience_days"
    __table_args__ = CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    experience_id: Mapped[str] = mapped_column(String(64), primary_key=True)


def utc_hour(at: datetime) -> datetime:
    """The first instant of the UTC hour of ``at`` (aware): the key of ``asset_hours``."""
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def utc_quarter(at: datetime) -> datetime:
    """The first instant of the UTC quarter-hour of ``at`` (aware): the key of the per-quarter rollups. Every time
    zone's offset today is a whole number of quarter-hours (Asia/Kolkata +05:30, Asia/Kathmandu +05:45), so the
    edges of its days fall on them."""
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


class StageQuarter(RollupCounts, StoryBase):
    """Per UTC quarter-hour and stage: what a period whose days are not UTC days is summed from at its edges."""

    __tablename__ = "stage_quarters"
    __table_args__ = CLUSTERED

    quarter: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True,
                                              doc="The quarter-hour's first instant (UTC).")
    stage_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class ExperienceQuarter(RollupCounts, StoryBase):
    """Per UTC quarter-hour and priority experience."""

    __tablename__ = "experience_quarters"
    __table_args__ = CLUSTERED

    quarter: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True,
                                              doc="The quarter-hour's first instant (UTC).")
    experience_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class StageQuarterPhrase(StoryBase):
    """How often a key phrase was said, per UTC quarter-hour and stage (no examples: those come from the day
    rows)."""

    __tablename__ = "stage_quarter_phrases"
    __table_args__ = CLUSTERED

    quarter: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True,
                                              doc="The quarter-hour's first instant (UTC).")
    stage_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phrase: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)


class StageDayPhrase(RollupExamples, StoryBase):
    """How often a key phrase was said, per day and stage, with two voices that said it."""

    __tablename__ = "stage_day_phrases"
    __table_args__ = (Index("ix_stage_day_phrases_pair_day", "stage_id", "phrase", "day"), CLUSTERED)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    stage_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    phrase: Mapped[str] = mapped_column(String(200), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    negative: Mapped[int] = mapped_column(Integer, default=0)


class AssetPoint(StoryBase):
    """A surviving customer's asset state and value from ``at`` on (the last change of either before an instant
    says what the customer was then); merged customers have none. What ``asset_days``/``asset_hours`` sum."""

    __tablename__ = "customer_asset_points"
    __table_args__ = (Index("ix_customer_asset_points_at", "at"),)

    customer_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[str] = mapped_column(String(10))
    value: Mapped[float] = mapped_column(Float)


class AssetDeltas:
    """The change of (customers, value) in one asset state over a span: summing every span before an instant
    gives the customers (and their value) in each state at that instant."""

    customers: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[float] = mapped_column(Float, default=0.0)


class AssetDay(AssetDeltas, StoryBase):
    """Asset-ledger deltas per UTC day and state."""

    __tablename__ = "asset_days"
    __table_args__ = CLUSTERED

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    state: Mapped[str] = mapped_column(String(10), primary_key=True)


class AssetHour(AssetDeltas, StoryBase):
    """Asset-ledger deltas per UTC hour and state (for instants that are not UTC midnights)."""

    __tablename__ = "asset_hours"
    __table_args__ = CLUSTERED

    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True, doc="The hour's first instant (UTC).")
    state: Mapped[str] = mapped_column(String(10), primary_key=True)


class ExperienceStatus(StoryBase):
    """The last reliability status seen for a priority experience (to notice it crossing its target)."""

    __tablename__ = "experience_status"

    experience_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    value: Mapped[float | None] = mapped_column(Float)
    as_of: Mapped[date] = mapped_column(Date)


class AlertRecord(StoryBase):
    """Every alert raised, once (``key`` says what it is about)."""

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_occurred", "occurred_at"),)

    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JourneyOutbox(OutboxColumns, StoryBase):
    """Events journey publishes after commit: alerts, story changes, map versions."""

    __tablename__ = "journey_outbox"
