"""A realistic, deterministic multi-channel data set for the journey tests.

Three hundred customers of the demo company over four months (July-October
2026): CRM events (created with a value, upgrades, downgrades, renewals,
cancellations), NPS surveys and support CSAT answers (aided), social posts
known by handle or email only (unaided, linked to the customer by identity
resolution), anonymous reviews, one day on which negative support voices
spike, and one valuable customer who answers as a detractor. The generator
records the facts the tests check the story against.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from shared.contracts import (
    CloudEvent,
    CustomerEvent,
    CustomerEventKind,
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

START = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
DAYS = 123
STAGES = ("discover", "buy", "onboarding", "use", "support", "renew")
SPIKE_DAY = date(2026, 10, 15)
HIGH_VALUE_CUSTOMER = "C-0007"


@dataclass
class DataSet:
    """The events, in the order a broker could deliver them, and the facts behind them."""

    voices: list[CloudEvent[FeedbackEnriched]] = field(default_factory=list)
    crm: list[CloudEvent[CustomerEvent]] = field(default_factory=list)
    cancelled: dict[str, tuple[date, float, str | None]] = field(default_factory=dict)
    """customer id → (day cancelled, value lost, stage of their last negative voice)"""
    value_gained: dict[date, float] = field(default_factory=dict)


def _voice(rng: random.Random, *, when: datetime, customer: CustomerRef, stage: str | None, label: SentimentLabel,
           source: FeedbackSource, nps: int | None = None, csat: int | None = None, text: str | None = None
           ) -> CloudEvent[FeedbackEnriched]:
    fid = f"fb_{uuid.UUID(int=rng.getrandbits(128)).hex}"
    score = {SentimentLabel.NEGATIVE: -rng.uniform(0.35, 0.95), SentimentLabel.NEUTRAL: rng.uniform(-0.15, 0.15),
             SentimentLabel.POSITIVE: rng.uniform(0.35, 0.95)}[label]
    aided = source in (FeedbackSource.SURVEY, FeedbackSource.SUPPORT)
    received = FeedbackReceived(
        feedback_id=fid, kind=FeedbackKind.AIDED if aided else FeedbackKind.UNAIDED, source=source,
        provider="typeform" if source is FeedbackSource.SURVEY else "zendesk" if aided else "reddit",
        external_id=fid, text=text or f"{label.value} words about {stage or 'something'}", customer=customer,
        scores=Scores(nps=nps, csat=csat), occurred_at=when, received_at=when + timedelta(seconds=5),
    )
    data = FeedbackEnriched(
        feedback=received, sentiment=SentimentTag(label=label, score=round(score, 4), confidence=0.9),
        stage=StageTag(id=stage, confidence=0.8 if stage else 0.0,
                       method=StageMethod.MODEL if stage else StageMethod.NONE),
        language="en", key_phrases=[f"{stage} issue"] if stage and label is SentimentLabel.NEGATIVE else [],
        journey_map_version=1, model_version="dataset",
    )
    return CloudEvent[FeedbackEnriched](id=str(uuid.UUID(int=rng.getrandbits(128))), source="/dataset",
                                        type="io.listeningpath.feedback.enriched.v1", subject=fid, data=data)


def _crm(rng: random.Random, *, when: datetime, cid: str, kind: CustomerEventKind, value: float | None,
         delta: float | None, segment: str) -> CloudEvent[CustomerEvent]:
    ext = uuid.UUID(int=rng.getrandbits(128)).hex
    data = CustomerEvent(event_kind=kind, provider="hubspot", external_id=ext, customer=CustomerRef(id=cid),
                         occurred_at=when, segment=segment, value=value, value_delta=delta, currency="EUR")
    return CloudEvent[CustomerEvent](id=str(uuid.UUID(int=rng.getrandbits(128))), source="/dataset",
                                     type="io.listeningpath.customer.event.v1", subject=cid, data=data)


def build(customers: int = 300, seed: int = 7) -> DataSet:
    """Generate the data set (same seed, same data)."""
    rng = random.Random(seed)
    ds = DataSet()
    for n in range(1, customers + 1):
        cid = f"C-{n:04d}"
        segment = rng.choice(["smb", "mid-market", "enterprise"])
        value = float(rng.choice([2_000, 5_000, 8_000, 15_000, 40_000])) if cid != HIGH_VALUE_CUSTOMER else 60_000.0
        created = START + timedelta(days=rng.randrange(0, 30), hours=rng.randrange(0, 8))
        ds.crm.append(_crm(rng, when=created, cid=cid, kind=CustomerEventKind.CREATED, value=value, delta=value,
                           segment=segment))
        ds.value_gained[created.date()] = ds.value_gained.get(created.date(), 0.0) + value
        fate = rng.random()
        churns = fate < 0.08 and cid != HIGH_VALUE_CUSTOMER
        last_negative: str | None = None
        # Voices: an NPS survey, a few support answers and posts, spread over the months after creation.
        for k in range(rng.randrange(3, 8)):
            when = created + timedelta(days=5 + k * rng.randrange(6, 14), hours=rng.randrange(0, 8))
            if when >= START + timedelta(days=DAYS):
                break
            stage = rng.choice(STAGES)
            if churns:
                label = SentimentLabel.NEGATIVE if rng.random() < 0.7 else SentimentLabel.NEUTRAL
                stage = rng.choice(["support", "onboarding"])
            else:
                label = rng.choices(list(SentimentLabel), weights=[0.2, 0.35, 0.45])[0]
            channel = rng.random()
            if k == 0:
                score = rng.randrange(0, 7) if churns else rng.randrange(6, 11)
                v = _voice(rng, when=when, customer=CustomerRef(id=cid), stage=stage, label=label,
                           source=FeedbackSource.SURVEY, nps=score)
            elif channel < 0.5:
                csat = rng.randrange(1, 3) if label is SentimentLabel.NEGATIVE else rng.randrange(3, 6)
                v = _voice(rng, when=when, customer=CustomerRef(id=cid, email=f"{cid.lower()}@example.com"),
                           stage=stage, label=label, source=FeedbackSource.SUPPORT, csat=csat)
            elif channel < 0.8:
                v = _voice(rng, when=when, customer=CustomerRef(email=f"{cid.lower()}@example.com",
                                                                handle=f"@{cid.lower()}"),
                           stage=stage, label=label, source=FeedbackSource.SOCIAL)
            else:
                v = _voice(rng, when=when, customer=CustomerRef(handle=f"@{cid.lower()}"), stage=stage,
                           label=label, source=FeedbackSource.SOCIAL)
            ds.voices.append(v)
            if label is SentimentLabel.NEGATIVE:
                last_negative = stage
        last_voice = max((v.data.feedback.occurred_at for v in ds.voices
                          if v.data.feedback.customer.id == cid or
                          (v.data.feedback.customer.handle or "") == f"@{cid.lower()}"), default=created)
        if churns:
            when = last_voice + timedelta(days=3)
            ds.crm.append(_crm(rng, when=when, cid=cid, kind=CustomerEventKind.CANCELLATION, value=0.0,
                               delta=-value, segment=segment))
            ds.cancelled[cid] = (when.date(), value, last_negative)
        elif fate < 0.25:
            when = last_voice + timedelta(days=2)
            if when < START + timedelta(days=DAYS):
                ds.crm.append(_crm(rng, when=when, cid=cid, kind=CustomerEventKind.UPGRADE, value=value * 1.5,
                                   delta=value * 0.5, segment=segment))
                ds.value_gained[when.date()] = ds.value_gained.get(when.date(), 0.0) + value * 0.5
    # The valuable customer answers as a detractor near the end.
    ds.voices.append(_voice(rng, when=datetime(2026, 10, 20, 10, tzinfo=UTC), customer=CustomerRef(
        id=HIGH_VALUE_CUSTOMER), stage="renew", label=SentimentLabel.NEGATIVE, source=FeedbackSource.SURVEY, nps=2,
        text="The invoice was wrong for the third time"))
    # Anonymous reviews, and a spike of negative support voices on one day.
    for i in range(100):
        when = START + timedelta(days=rng.randrange(0, DAYS), hours=rng.randrange(0, 10))
        if when.date() == SPIKE_DAY:
            continue
        ds.voices.append(_voice(rng, when=when, customer=CustomerRef(), stage=rng.choice([*STAGES, None]),
                                label=rng.choice(list(SentimentLabel)), source=FeedbackSource.REVIEW,
                                text=f"anonymous review {i}"))
    for i in range(12):
        ds.voices.append(_voice(rng, when=datetime.combine(SPIKE_DAY, datetime.min.time(), tzinfo=UTC)
                                + timedelta(hours=8, minutes=7 * i), customer=CustomerRef(handle=f"@angry{i}"),
                                stage="support", label=SentimentLabel.NEGATIVE, source=FeedbackSource.SOCIAL,
                                text="support is down again"))
    ds.voices.sort(key=lambda v: v.data.feedback.occurred_at)
    ds.crm.sort(key=lambda e: e.data.occurred_at)
    return ds
