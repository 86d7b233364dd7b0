"""Building realistic events for tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.contracts import (
    CloudEvent,
    CustomerRef,
    FeedbackEnriched,
    FeedbackKind,
    FeedbackReceived,
    FeedbackSource,
    Scores,
    SentimentLabel,
    SentimentTag,
    StageMethod,
    StageTag,
)

SCORE = {SentimentLabel.NEGATIVE: -0.8, SentimentLabel.NEUTRAL: 0.0, SentimentLabel.POSITIVE: 0.8}


def enriched_event(
    *,
    stage: str | None = "onboarding",
    sentiment: SentimentLabel = SentimentLabel.NEGATIVE,
    customer: CustomerRef | None = None,
    occurred_at: datetime | None = None,
    text: str = "Setup took two days.",
    nps: int | None = None,
    feedback_id: str | None = None,
    event_id: str | None = None,
) -> CloudEvent[FeedbackEnriched]:
    """An enriched-feedback event as nlp would publish it."""
    when = occurred_at or datetime(2026, 11, 2, 14, 0, tzinfo=UTC)
    fid = feedback_id or f"fb_{uuid.uuid4().hex}"
    received = FeedbackReceived(
        feedback_id=fid, kind=FeedbackKind.AIDED, source=FeedbackSource.SURVEY, provider="typeform",
        external_id=fid, text=text, customer=customer or CustomerRef(), scores=Scores(nps=nps),
        occurred_at=when, received_at=when,
    )
    data = FeedbackEnriched(
        feedback=received,
        sentiment=SentimentTag(label=sentiment, score=SCORE[sentiment], confidence=0.9),
        stage=StageTag(id=stage, confidence=0.8 if stage else 0.0,
                       method=StageMethod.MODEL if stage else StageMethod.NONE),
        language="en", key_phrases=["setup"], journey_map_version=1, model_version="test",
    )
    return CloudEvent[FeedbackEnriched](
        id=event_id or str(uuid.uuid4()), source="/test", type="io.listeningpath.feedback.enriched.v1",
        subject=fid, data=data,
    )
