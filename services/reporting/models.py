"""Reporting's own tables: API keys (stored as hashes, with scopes)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import JSONType, UTCDateTime, make_metadata


class ReportingBase(DeclarativeBase):
    """Declarative base of the reporting service's tables."""

    metadata = make_metadata()


class ApiKey(ReportingBase):
    """A key dashboards and people use; only its SHA-256 is kept (keys are 256-bit random, not passwords)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), doc="The key's first characters, to recognise it in lists.")
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
