"""Rollup-based answers equal the same answers counted from the stored voices, in any time zone.

Voices at random instants (every hour and minute, so edges of days and hours are hit), in several batches,
including a voice given with a non-UTC offset. For periods and trend windows in UTC and in zones with whole-hour
(Paris, New York), half-hour (Kolkata) and quarter-hour (Kathmandu) offsets, across the daylight-saving changes,
and an offset off the quarter-hours (+05:53:20, as Kolkata's local mean time was: the minutes to the next
quarter-hour are read from the voices): the counters per stage and per priority experience, and each stage's top
phrases, read from the day and quarter-hour rollups equal a count of every stored voice (``Counts.of_item``) by
hand.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.journey.metrics import Counts
from services.journey.models import UNSTAGED, FeedbackItem
from services.reporting.periods import Period, Span, zone
from services.reporting.rollup_reads import Dimension, counts_by_bucket, top_phrases_by_stage
from shared.contracts import CloudEvent, FeedbackEnriched, Scores, SentimentLabel
from tests.conftest import Database
from tests.factories import enriched_event
from tests.reporting.stores import story_store

START = datetime(2026, 3, 1, tzinfo=UTC)
DAYS = 70  # over the spring daylight-saving changes of New York (8 March) and Paris (29 March)
STAGES = ["discover", "buy", "onboarding", "use", "support", "renew", None]
PHRASES = ["invoice total", "sso setup", "slow support", "api limit", "export csv", "great onboarding", "price",
           "invite email"]
ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu", "+05:53:20"]


def _zone(tz: str) -> tzinfo:
    """A zone by name, or a fixed offset written ``+HH:MM:SS``."""
    if tz.startswith("+"):
        hours, minutes, seconds = (int(x) for x in tz[1:].split(":"))
        return timezone(timedelta(hours=hours, minutes=minutes, seconds=seconds))
    return zone(tz)
PERIODS = [(date(2026, 3, 1), date(2026, 5, 9)), (date(2026, 3, 29), date(2026, 3, 29)),
           (date(2026, 3, 5), date(2026, 3, 31)), (date(2026, 4, 10), date(2026, 4, 11)),
           (date(2026, 2, 20), date(2026, 3, 2))]


def _voice(rng: random.Random, n: int) -> CloudEvent[FeedbackEnriched]:
    when = START + timedelta(seconds=rng.randrange(DAYS * 86400))
    if n % 17 == 0:  # sources may give other offsets: the rollups still count UTC days and hours
        when = when.astimezone(timezone(timedelta(hours=-7)))
    label = rng.choice(list(SentimentLabel))
    base = enriched_event(stage=rng.choice(STAGES), sentiment=label, occurred_at=when, text=f"voice {n}",
                          nps=rng.choice([None, None, 3, 7, 9, 10]), feedback_id=f"fb_eq_{n:04d}")
    data = base.data
    scores = Scores(nps=data.feedback.scores.nps, csat=rng.choice([None, 2, 4, 5]), ces=rng.choice([None, 3, 6]))
    feedback = data.feedback.model_copy(update={"scores": scores})
    tagged = data.model_copy(update={
        "feedback": feedback, "key_phrases": rng.sample(PHRASES, rng.randrange(0, 3)),
        "sentiment": data.sentiment.model_copy(update={"score": round(rng.uniform(-1, 1), 4)})})
    return base.model_copy(update={"data": tagged})


@pytest.fixture(scope="module")
def store(module_database: Database) -> Iterator[sessionmaker[Session]]:
    rng = random.Random(6)
    yield from story_store(module_database, [_voice(rng, n) for n in range(900)])


def _by_hand(session: Session, dim: Dimension, spans: list[Span]) -> list[dict[str, Counts]]:
    out: list[dict[str, Counts]] = [defaultdict(Counts) for _ in spans]
    for item in session.scalars(select(FeedbackItem)):
        counts = Counts.of_item(sentiment=item.sentiment_label, score=item.sentiment_score, nps=item.nps,
                                csat=item.csat, ces=item.ces, aided=item.kind == "aided")
        keys = [item.stage_id or UNSTAGED] if dim == "stage" else list(item.experiences or [])
        for bucket, span in zip(out, spans, strict=True):
            if span.start <= item.occurred_at < span.end:
                for key in keys:
                    bucket[key] = bucket[key].add(counts)
    return [dict(b) for b in out]


def _phrases_by_hand(session: Session, span: Span, limit: int = 5) -> dict[str, list[tuple[str, int, int]]]:
    tally: dict[str, Counter[str]] = defaultdict(Counter)
    negative: dict[str, Counter[str]] = defaultdict(Counter)
    for item in session.scalars(select(FeedbackItem)):
        if span.start <= item.occurred_at < span.end:
            for phrase in dict.fromkeys(item.key_phrases):
                tally[item.stage_id or UNSTAGED][phrase] += 1
                negative[item.stage_id or UNSTAGED][phrase] += item.sentiment_label == "negative"
    return {stage: sorted(((p, n, negative[stage][p]) for p, n in counts.items()), key=lambda x: (-x[1], x[0]))[:limit]
            for stage, counts in tally.items()}


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("dim", ["stage", "experience"])
def test_periods_and_trend_weeks_equal_a_count_of_the_voices(store: sessionmaker[Session], tz: str,
                                                              dim: Dimension) -> None:
    with store() as s:
        for since, until in PERIODS:
            period = Period(since, until, _zone(tz))
            for spans in ([period.span(), period.previous().span()], [w for _, w in period.weeks()]):
                assert counts_by_bucket(s, dim, spans) == _by_hand(s, dim, spans), (since, until)
        assert sum(c.volume for c in counts_by_bucket(s, "stage", [Period(*PERIODS[0], _zone(tz)).span()])[0]
                   .values()) > 800  # nearly every voice falls in the longest period, whatever the zone


@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("limit", [1, 2, 5])
def test_top_phrases_equal_a_count_of_the_voices(store: sessionmaker[Session], tz: str, limit: int) -> None:
    """Small limits make the ranking's edges matter: a phrase whose voices at the edges are taken away can drop
    out, and one said at the edges can come in."""
    with store() as s:
        for since, until in PERIODS:
            period = Period(since, until, _zone(tz))
            got = {stage: [(p.phrase, p.count, p.negative) for p in phrases]
                   for stage, phrases in top_phrases_by_stage(s, period, limit=limit, examples=False).items()}
            assert got == _phrases_by_hand(s, period.span(), limit), (tz, since, until)


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_phrase_examples_are_the_most_negative_and_the_newest_voice(store: sessionmaker[Session], tz: str) -> None:
    """Each top phrase's example ids: the lowest score (then smallest id) and the latest voice (then largest id)
    among the voices that said it on the UTC days the period touches."""
    with store() as s:
        items = list(s.scalars(select(FeedbackItem)))
        for since, until in PERIODS:
            period = Period(since, until, _zone(tz))
            first = period.start().astimezone(UTC).date()
            last = (period.end() - timedelta(microseconds=1)).astimezone(UTC).date()
            chosen = top_phrases_by_stage(s, period, limit=3)
            assert chosen, (since, until)
            for stage, phrases in chosen.items():
                for top in phrases:
                    said = [i for i in items if (i.stage_id or UNSTAGED) == stage and top.phrase in i.key_phrases
                            and first <= i.occurred_at.astimezone(UTC).date() <= last]
                    worst = min(said, key=lambda i: (i.sentiment_score, i.feedback_id)).feedback_id
                    newest = max(said, key=lambda i: (i.occurred_at, i.feedback_id)).feedback_id
                    assert top.example_ids == tuple(dict.fromkeys((worst, newest))), (tz, since, until, stage)


def test_the_hour_rollups_hold_every_voice_once(store: sessionmaker[Session]) -> None:
    first, last = START.date() - timedelta(days=1), (START + timedelta(days=DAYS + 1)).date()
    whole = Period(first, last)
    with store() as s:
        by_hours = counts_by_bucket(s, "stage", [Span(whole.start() + timedelta(minutes=60), whole.end())])
        assert by_hours == _by_hand(s, "stage", [Span(whole.start() + timedelta(minutes=60), whole.end())])
        assert sum(c.volume for c in counts_by_bucket(s, "stage", [whole.span()])[0].values()) == 900
