"""The journey consumer: enriched feedback from the bus into the story store."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from services.journey.story.service import apply_enriched
from shared.bus import BatchConsumer, ConsumedEvent, ConsumerConfig, EventProducer
from shared.contracts import FEEDBACK_ENRICHED, FeedbackEnriched
from shared.db import transaction

GROUP_ID = "lp-journey"


def build_consumer(
    *, bootstrap: str, sessions: sessionmaker[Session], producer: EventProducer, batch_size: int, max_wait_ms: int
) -> BatchConsumer[FeedbackEnriched]:
    """A consumer that applies each batch in one transaction, then commits its offsets."""

    def process(batch: Sequence[ConsumedEvent[FeedbackEnriched]]) -> None:
        with transaction(sessions) as session:
            apply_enriched(session=session, events=[m.event for m in batch])

    return BatchConsumer(
        bootstrap=bootstrap,
        config=ConsumerConfig(GROUP_ID, (FEEDBACK_ENRICHED,), batch_size=batch_size, max_wait_ms=max_wait_ms),
        payload=FeedbackEnriched,
        processor=process,
        producer=producer,
        service="journey",
        transient=(OperationalError,),
    )
