"""Ingest's tables: the raw store (source of truth) and the transactional outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import JSONType, UTCDateTime, make_metadata
from shared.outbox import OutboxColumns


class IngestBase(DeclarativeBase):
    """Declarative base of the ingest service's tables."""

    metadata = make_metadata()


class RawFeedback(IngestBase):
    """Every accepted item, normalised, with what the provider sent kept verbatim."""

    __tablename__ = "raw_feedback"
    __table_args__ = (UniqueConstraint("provider", "external_id", name="uq_raw_feedback_provider_external_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    normalised: Mapped[dict[str, Any]] = mapped_column(JSONType)
    original: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OutboxMessage(OutboxColumns, IngestBase):
    """A message to publish once the transaction that wrote it has committed (relayed by shared.outbox)."""

    __tablename__ = "outbox"

    headers: Mapped[str | None] = mapped_column(Text)


class RawCustomerEvent(IngestBase):
    """Every accepted CRM customer event, normalised, with what the CRM sent kept verbatim."""

    __tablename__ = "raw_customer_events"
    __table_args__ = (
        UniqueConstraint("provider", "external_id", name="uq_raw_customer_events_provider_external_id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    event_kind: Mapped[str] = mapped_column(String(32))
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    normalised: Mapped[dict[str, Any]] = mapped_column(JSONType)
    original: Mapped[dict[str, Any]] = mapped_column(JSONType)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PendingFetch(IngestBase):
    """A signed webhook envelope whose content must still be fetched from the provider's API.

    Stored before the webhook is answered, so an accepted envelope is never lost; the fetch worker turns
    it into feedback (status ``done``) or parks it after too many failures (status ``failed``).
    """

    __tablename__ = "pending_fetches"
    __table_args__ = (
        UniqueConstraint("provider", "external_id", name="uq_pending_fetches_provider_external_id"),
        Index("ix_pending_fetches_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    provider: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONType)
    traceparent: Mapped[str | None] = mapped_column(String(60))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyKey(IngestBase):
    """The answer given to a request that carried an ``Idempotency-Key``, replayed for a retry of it."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PollCursor(IngestBase):
    """Where a poller stopped: provider-specific state, committed with the items it fetched."""

    __tablename__ = "poll_cursors"

    source: Mapped[str] = mapped_column(String(100), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ImportCheckpoint(IngestBase):
    """How far a bulk import got in one file, committed with each batch so an import can resume."""

    __tablename__ = "import_checkpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    head_sha256: Mapped[str] = mapped_column(String(64))
    byte_offset: Mapped[int] = mapped_column(BigInteger)
    line_no: Mapped[int] = mapped_column(BigInteger)
    accepted: Mapped[int] = mapped_column(BigInteger)
    duplicates: Mapped[int] = mapped_column(BigInteger)
    rejected: Mapped[int] = mapped_column(BigInteger)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
