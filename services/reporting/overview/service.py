"""The overview of a period: voices, scores and the customer asset ledger, against the period before."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from services.journey import metrics
from services.journey.metrics import Counts
from services.reporting.ledger.service import Ledger, ledgers
from services.reporting.periods import Period
from services.reporting.rollup_reads import counts_by_bucket


class Voices(BaseModel):
    """What customers said in a period."""

    volume: int
    negative: int
    neutral: int
    positive: int
    negative_share: float | None
    mean_sentiment: float | None
    nps: float | None
    csat: float | None
    ces: float | None
    aided: int
    unaided: int


class PeriodOverview(BaseModel):
    """One period."""

    since: str
    until: str
    tz: str = Field("UTC", description="The time zone whose days the period is.")
    voices: Voices
    customers: Ledger


class Overview(BaseModel):
    """The period asked for, the one of the same length before it, and the change."""

    current: PeriodOverview
    previous: PeriodOverview
    change: dict[str, float | None] = Field(description="current minus previous, for the headline numbers.")


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def voices(c: Counts) -> Voices:
    """The headline numbers of a set of counters."""
    return Voices(volume=c.volume, negative=c.negative, neutral=c.neutral, positive=c.positive,
                  negative_share=_r(metrics.negative_share(c)), mean_sentiment=_r(metrics.mean_sentiment(c)),
                  nps=_r(metrics.nps(c), 1), csat=_r(metrics.csat(c), 1), ces=_r(metrics.ces(c), 2),
                  aided=c.aided, unaided=c.unaided)


def period_overview(period: Period, per_stage: dict[str, Counts], customers: Ledger) -> PeriodOverview:
    """Voices (from the period's counters per stage) and ledger of one period."""
    total = Counts()
    for counts in per_stage.values():
        total = total.add(counts)
    return PeriodOverview(since=period.since.isoformat(), until=period.until.isoformat(), tz=str(period.tz),
                          voices=voices(total), customers=customers)


def overview(session: Session, period: Period, *, segment: str | None = None) -> Overview:
    """The overview with its comparison: the two periods' counters come from one rollup query."""
    previous = period.previous()
    counts_now, counts_before = counts_by_bucket(session, "stage", [period.span(), previous.span()], segment=segment)
    ledger_now, ledger_before = ledgers(session, [period, previous], segment=segment)
    now = period_overview(period, counts_now, ledger_now)
    before = period_overview(previous, counts_before, ledger_before)

    def delta(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else round(a - b, 4)

    change = {
        "volume": float(now.voices.volume - before.voices.volume),
        "negative_share": delta(now.voices.negative_share, before.voices.negative_share),
        "nps": delta(now.voices.nps, before.voices.nps),
        "csat": delta(now.voices.csat, before.voices.csat),
        "ces": delta(now.voices.ces, before.voices.ces),
        "customers_gained": float(now.customers.gained.customers - before.customers.gained.customers),
        "customers_lost": float(now.customers.lost.customers - before.customers.lost.customers),
        "value_at_risk": delta(now.customers.at_risk.value, before.customers.at_risk.value),
    }
    return Overview(current=now, previous=before, change=change)
