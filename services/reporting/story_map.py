"""The journey map in force, read from the story store (journey owns it), with the configured file as fallback."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.journey.models import JourneyMapVersion
from shared.contracts import JourneyMap


def map_in_force(session: Session, fallback: JourneyMap) -> JourneyMap:
    """The highest stored version, or ``fallback`` before journey stored one."""
    row = session.scalar(select(JourneyMapVersion).order_by(JourneyMapVersion.version.desc()).limit(1))
    return JourneyMap.model_validate(row.document) if row else fallback
