"""SQL of journey map versions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.journey.models import JourneyMapVersion


class JourneyMapRepository:
    """Stored journey map versions."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def latest(self) -> JourneyMapVersion | None:
        """The version in force."""
        stmt = select(JourneyMapVersion).order_by(JourneyMapVersion.version.desc()).limit(1)
        return self.session.scalar(stmt)

    def get(self, version: int) -> JourneyMapVersion | None:
        """One version."""
        return self.session.get(JourneyMapVersion, version)

    def all(self) -> Sequence[JourneyMapVersion]:
        """Every version, newest first."""
        return self.session.scalars(select(JourneyMapVersion).order_by(JourneyMapVersion.version.desc())).all()

    def add(self, row: JourneyMapVersion) -> None:
        """Store a new version."""
        self.session.add(row)
        self.session.flush()
