"""Response shapes of the journey map API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class JourneyMapVersionOut(BaseModel):
    """One stored version, without its document."""

    version: int
    company: str
    published_at: datetime
    published_by: str | None
