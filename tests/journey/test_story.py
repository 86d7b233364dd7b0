"""Applying enriched feedback to the story store: idempotent, rolled up per day and stage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.cli.migrate import upgrade_schemas
from services.journey.alerts.service import AlertPolicy
from services.journey.models import UNSTAGED, FeedbackItem, StageDay
from services.journey.settings import DEMO_JOURNEY_MAP
from services.journey.story.service import StoryContext, apply_enriched
from shared.contracts import CustomerRef, JourneyMap, SentimentLabel
from shared.db import create_db_engine, make_session_factory, transaction
from shared.settings import ServiceSettings
from tests.conftest import Database
from tests.factories import enriched_event

CTX = StoryContext(journey_map=JourneyMap.load(DEMO_JOURNEY_MAP), email_key=b"k", alerts=AlertPolicy(),
                   publish=False)


@pytest.fixture
def sessions(database: Database) -> Iterator[sessionmaker[Session]]:
    settings = ServiceSettings(data_dir=database.data_dir, database_url=database.url)
    upgrade_schemas(settings, ["journey"])
    engine = create_db_engine(settings.database_url_for("journey"))
    yield make_session_factory(engine)
    engine.dispose()


def rollup(sessions: sessionmaker[Session]) -> dict[tuple[date, str], tuple[int, int, int, int]]:
    with sessions() as s:
        return {(r.day, r.stage_id): (r.volume, r.negative, r.neutral, r.positive) for r in s.scalars(select(StageDay))}


def items(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(s.scalar(select(func.count()).select_from(FeedbackItem)) or 0)


def test_items_are_stored_and_rolled_up_per_day_and_stage(sessions: sessionmaker[Session]) -> None:
    d1 = datetime(2026, 11, 2, 23, 59, tzinfo=UTC)
    d2 = datetime(2026, 11, 3, 0, 1, tzinfo=UTC)
    events = [
        enriched_event(stage="onboarding", sentiment=SentimentLabel.NEGATIVE, occurred_at=d1),
        enriched_event(stage="onboarding", sentiment=SentimentLabel.POSITIVE, occurred_at=d1),
        enriched_event(stage="onboarding", sentiment=SentimentLabel.NEGATIVE, occurred_at=d2),
        enriched_event(stage=None, sentiment=SentimentLabel.NEUTRAL, occurred_at=d2),
    ]
    with transaction(sessions) as s:
        assert apply_enriched(session=s, events=events, ctx=CTX).stored == 4
    assert rollup(sessions) == {
        (date(2026, 11, 2), "onboarding"): (2, 1, 0, 1),
        (date(2026, 11, 3), "onboarding"): (1, 1, 0, 0),
        (date(2026, 11, 3), UNSTAGED): (1, 0, 1, 0),
    }


def test_a_redelivered_event_changes_nothing(sessions: sessionmaker[Session]) -> None:
    event = enriched_event(customer=CustomerRef(id="C-9"))
    with transaction(sessions) as s:
        assert apply_enriched(session=s, events=[event], ctx=CTX).stored == 1
    before = rollup(sessions)
    with transaction(sessions) as s:
        assert apply_enriched(session=s, events=[event, event], ctx=CTX).stored == 0
    assert rollup(sessions) == before
    assert items(sessions) == 1


def test_a_second_event_for_a_stored_item_is_not_counted_twice(sessions: sessionmaker[Session]) -> None:
    first = enriched_event(feedback_id="fb_same")
    second = enriched_event(feedback_id="fb_same", sentiment=SentimentLabel.POSITIVE)
    with transaction(sessions) as s:
        apply_enriched(session=s, events=[first, second], ctx=CTX)
    assert items(sessions) == 1
    assert sum(v[0] for v in rollup(sessions).values()) == 1


def test_a_failed_transaction_leaves_no_trace(sessions: sessionmaker[Session]) -> None:
    def crash_before_commit() -> None:
        with transaction(sessions) as s:
            apply_enriched(session=s, events=[enriched_event()], ctx=CTX)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError, match="crash before commit"):
        crash_before_commit()
    assert items(sessions) == 0
    assert rollup(sessions) == {}
