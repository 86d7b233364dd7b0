"""Periods: whole days in the caller's time zone (``tz``, default UTC), both ends inclusive.

A day is midnight to midnight on the wall clock of ``tz``, so a day may be 23 or 25 hours long across a
daylight-saving change. The default period ends on the newest day with data (in ``tz``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from fastapi import Query
from pydantic import AfterValidator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.journey.models import StageDay
from shared.http import ServiceError

DEFAULT_DAYS = 28
MAX_DAYS = 3660
EARLIEST_DAY = date.min + timedelta(days=2 * MAX_DAYS + 100)
LATEST_DAY = date.max - timedelta(days=100)
"""Days a period may touch: far enough from the ends of the calendar that a previous period, trend weeks and
time-zone shifts cannot overflow."""


class InvalidPeriod(ServiceError):
    """``since`` after ``until``, or a period too long."""

    code = "invalid_period"


@dataclass(frozen=True)
class Span:
    """Instants [start, end): what a period or a trend bucket covers."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Period:
    """[since, until] in whole days of ``tz``."""

    since: date
    until: date
    tz: tzinfo = field(default=UTC, compare=True)

    def __post_init__(self) -> None:
        for day in (self.since, self.until):
            _check_day(day)

    @property
    def days(self) -> int:
        """Length in days."""
        return (self.until - self.since).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.since - timedelta(days=self.days), self.since - timedelta(days=1), self.tz)

    def start(self) -> datetime:
        """First instant (UTC)."""
        return day_start(self.since, self.tz)

    def end(self) -> datetime:
        """First instant after the period (UTC)."""
        return day_start(self.until + timedelta(days=1), self.tz)

    def span(self) -> Span:
        """The instants the period covers."""
        return Span(self.start(), self.end())

    def weeks(self, count: int = 8) -> list[tuple[date, Span]]:
        """``count`` 7-day windows ending on ``until``, oldest first, each with its first day."""
        first = self.until - timedelta(days=7 * count - 1)
        starts = [first + timedelta(days=7 * i) for i in range(count)]
        return [(d, Span(day_start(d, self.tz), day_start(d + timedelta(days=7), self.tz))) for d in starts]


def _check_day(day: date) -> None:
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise InvalidPeriod(f"{day.isoformat()} is outside the days reports cover "
                            f"({EARLIEST_DAY.isoformat()} to {LATEST_DAY.isoformat()})")


def day_start(day: date, tz: tzinfo) -> datetime:
    """Midnight of ``day`` on the wall clock of ``tz``, as a UTC instant (a skipped midnight is taken as the
    first instant of the day)."""
    local = datetime.combine(day, time.min, tzinfo=tz)
    return local.astimezone(UTC)


def _zone(name: str) -> str:
    if name.upper() == "UTC":
        return "UTC"
    if name not in _known_zones():
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or America/New_York")
    return name


_ZONES: set[str] = set()


def _known_zones() -> set[str]:
    if not _ZONES:
        _ZONES.update(available_timezones())
    return _ZONES


def zone(name: str) -> tzinfo:
    """The ``tzinfo`` of a validated zone name."""
    if name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # validated before; kept for direct callers
        raise InvalidPeriod(f"unknown time zone {name!r}") from exc


TzParam = Annotated[str, AfterValidator(_zone), Query(
    description="IANA time zone that defines day boundaries for `since`, `until`, the default period and weekly "
    "trends (a day is midnight to midnight there, 23 or 25 hours across a daylight-saving change). "
    "Unknown names are refused with 422.",
    examples=["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"],
    openapi_examples={
        "utc": {"summary": "UTC days (the default)", "value": "UTC"},
        "paris": {"summary": "Days in Paris (CET/CEST)", "value": "Europe/Paris"},
        "new_york": {"summary": "Days in New York (EST/EDT)", "value": "America/New_York"},
    },
)]
"""The ``tz`` query parameter every period-taking endpoint accepts."""

SINCE_DOC = "First day (in `tz`; default: 28 days before `until`)."
UNTIL_DOC = "Last day (in `tz`; default: the newest day with data)."


def resolve_period(session: Session, since: date | None, until: date | None, *, tz: tzinfo = UTC,
                   default_days: int = DEFAULT_DAYS) -> Period:
    """The period asked for; missing ends default to the newest day with data and ``default_days`` before it."""
    for day in (since, until):
        if day is not None:
            _check_day(day)
    if until is None:
        until = _newest_day(session, tz)
    if since is None:
        since = until - timedelta(days=default_days - 1)
    if since > until:
        raise InvalidPeriod("`since` is after `until`")
    if (until - since).days > MAX_DAYS:
        raise InvalidPeriod("a period may be at most ten years long")
    return Period(since, until, tz)


def _newest_day(session: Session, tz: tzinfo) -> date:
    newest_day: date | None = session.scalar(select(func.max(StageDay.day)))
    if newest_day is None:
        return datetime.now(tz).date()
    if tz is UTC:
        return newest_day
    newest_at: datetime | None = session.scalar(select(func.max(StageDay.newest_at))
                                                .where(StageDay.day == newest_day))
    if newest_at is None:  # rows written before example voices were kept
        return newest_day
    if newest_at.tzinfo is None:
        newest_at = newest_at.replace(tzinfo=UTC)
    return newest_at.astimezone(tz).date()
