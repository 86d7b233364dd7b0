"""Periods: whole UTC days, both ends inclusive; the default ends on the newest day with data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.journey.models import StageDay
from shared.http import ServiceError

DEFAULT_DAYS = 28


class InvalidPeriod(ServiceError):
    """``since`` after ``until``, or a period too long."""

    code = "invalid_period"


@dataclass(frozen=True)
class Period:
    """[since, until] in UTC days."""

    since: date
    until: date

    @property
    def days(self) -> int:
        """Length in days."""
        return (self.until - self.since).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.since - timedelta(days=self.days), self.since - timedelta(days=1))

    def start(self) -> datetime:
        """First instant (UTC)."""
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    def end(self) -> datetime:
        """First instant after the period (UTC)."""
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)


def resolve_period(session: Session, since: date | None, until: date | None, *, default_days: int = DEFAULT_DAYS
                   ) -> Period:
    """The period asked for; missing ends default to the newest day with data and ``default_days`` before it."""
    if until is None:
        newest = session.scalar(select(func.max(StageDay.day)))
        until = newest or datetime.now(UTC).date()
    if since is None:
        since = until - timedelta(days=default_days - 1)
    if since > until:
        raise InvalidPeriod("`since` is after `until`")
    if (until - since).days > 3660:
        raise InvalidPeriod("a period may be at most ten years long")
    return Period(since, until)
