"""The journey consumers: enriched feedback and CRM customer events into the story store."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.journey.story.service import StoryContext, apply_customer_events, apply_enriched
from shared.bus import BatchConsumer, ConsumedEvent, ConsumerConfig, EventProducer
from shared.contracts import (
    CUSTOMER_EVENTS,
    FEEDBACK_ENRICHED,
    JOURNEY_CUSTOMER_GROUP,
    JOURNEY_FEEDBACK_GROUP,
    CustomerEvent,
    FeedbackEnriched,
)
from shared.db import transaction

FEEDBACK_GROUP = JOURNEY_FEEDBACK_GROUP
CUSTOMER_GROUP = JOURNEY_CUSTOMER_GROUP


def build_consumers(
    *,
    bootstrap: str,
    sessions: sessionmaker[Session],
    producer: EventProducer,
    context: Callable[[Session], StoryContext],
    after_commit: Callable[[], None],
    batch_size: int,
    max_wait_ms: int,
) -> tuple[BatchConsumer[FeedbackEnriched], BatchConsumer[CustomerEvent]]:
    """Consumers that apply each batch in one transaction, then commit offsets."""

    def voices(batch: Sequence[ConsumedEvent[FeedbackEnriched]]) -> None:
        with transaction(sessions) as session:
            apply_enriched(session=session, events=[m.event for m in batch], ctx=context(session))
        after_commit()

    def customer_events(batch: Sequence[ConsumedEvent[CustomerEvent]]) -> None:
        with transaction(sessions) as session:
            apply_customer_events(session=session, events=[m.event for m in batch], ctx=context(session))
        after_commit()

    common = {"bootstrap": bootstrap, "producer": producer, "service": "journey", "transient": (OperationalError,)}
    return (
        BatchConsumer(config=ConsumerConfig(FEEDBACK_GROUP, (FEEDBACK_ENRICHED,), batch_size=batch_size,
                                            max_wait_ms=max_wait_ms),
                      payload=FeedbackEnriched, processor=voices, **common),  # type: ignore[arg-type]
        BatchConsumer(config=ConsumerConfig(CUSTOMER_GROUP, (CUSTOMER_EVENTS,), batch_size=batch_size,
                                            max_wait_ms=max_wait_ms),
                      payload=CustomerEvent, processor=customer_events, **common),  # type: ignore[arg-type]
    )
