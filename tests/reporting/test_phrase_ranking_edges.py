"""The phrase ranking where minutes at a period's edge take voices away (a :30 zone, the day counted whole).

In Asia/Kolkata, 10-11 March is [9 March 18:30, 11 March 18:30) UTC: the end edge covers most of 11 March, so
the rollups count that whole UTC day and take away what was said after 18:30 (the quarter-hours from 18:30 on;
before journey's revision 0011, the half hour before 19:00 was read from the voices). "beta" leads the UTC days
(4 voices against 3) but two of its voices are in that half hour: the period's best phrase is "alpha". A ranking
that read only the ``limit`` best phrases of the whole days would miss it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from services.reporting.periods import Period, zone
from services.reporting.rollup_reads import top_phrases_by_stage
from shared.contracts import CloudEvent, FeedbackEnriched
from tests.conftest import Database
from tests.factories import enriched_event
from tests.reporting.stores import story_store

VOICES = [("alpha", datetime(2026, 3, 10, 9, tzinfo=UTC)), ("alpha", datetime(2026, 3, 10, 12, tzinfo=UTC)),
          ("alpha", datetime(2026, 3, 11, 8, tzinfo=UTC)), ("beta", datetime(2026, 3, 10, 10, tzinfo=UTC)),
          ("beta", datetime(2026, 3, 11, 9, tzinfo=UTC)), ("beta", datetime(2026, 3, 11, 18, 40, tzinfo=UTC)),
          ("beta", datetime(2026, 3, 11, 18, 50, tzinfo=UTC))]


def _voice(n: int, phrase: str, at: datetime) -> CloudEvent[FeedbackEnriched]:
    base = enriched_event(stage="use", occurred_at=at, text=f"voice {n}", feedback_id=f"fb_edge_{n}")
    return base.model_copy(update={"data": base.data.model_copy(update={"key_phrases": [phrase]})})


@pytest.fixture(scope="module")
def store(module_database: Database) -> Iterator[sessionmaker[Session]]:
    yield from story_store(module_database, [_voice(n, p, at) for n, (p, at) in enumerate(VOICES)])


def test_a_phrase_the_edge_takes_voices_from_gives_way(store: sessionmaker[Session]) -> None:
    period = Period(date(2026, 3, 10), date(2026, 3, 11), zone("Asia/Kolkata"))
    with store() as s:
        best = top_phrases_by_stage(s, period, limit=1, examples=False)["use"]
        both = top_phrases_by_stage(s, period, limit=2, examples=False)["use"]
    assert [(p.phrase, p.count) for p in best] == [("alpha", 3)]
    assert [(p.phrase, p.count) for p in both] == [("alpha", 3), ("beta", 2)]
