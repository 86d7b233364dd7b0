"""Rebuilding the story store from scratch: the store is a projection, so replaying its inputs recreates it.

Two sources:

* ``topics`` — ``lp.feedback.enriched.v1`` and ``lp.customer.events.v1`` from the beginning (needs the
  broker to retain them: Apache Kafka with the default retention, not the in-memory embedded broker);
* ``raw`` — ingest's raw store (the source of truth), each item tagged again by the same NLP code the nlp
  service runs, with the journey map in force.

The rebuild writes into a separate database (migrated first) with ``publish=False``: alerts and story
changes are recomputed but not announced again. ``compare`` then checks the rebuilt store against the live
one (rollups exactly; customers by the company's own ids, since our customer ids follow arrival order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.journey.models import (
    Customer,
    CustomerIdentity,
    ExperienceDay,
    ExperienceQuarter,
    FeedbackItem,
    StageDay,
    StageDayPhrase,
    StageQuarter,
    StageQuarterPhrase,
    StateChange,
)
from services.journey.story.service import StoryContext, apply_customer_events, apply_enriched
from shared.contracts import CloudEvent, CustomerEvent, FeedbackEnriched
from shared.db import transaction

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass
class RebuildResult:
    """What a rebuild applied."""

    voices: int = 0
    customer_events: int = 0


def apply_stream(
    sessions: sessionmaker[Session],
    context: Callable[[Session], StoryContext],
    voices: Iterable[Sequence[CloudEvent[FeedbackEnriched]]],
    customer_events: Iterable[Sequence[CloudEvent[CustomerEvent]]],
    progress: Progress | None = None,
) -> RebuildResult:
    """Apply CRM events first (values and segments), then voices, batch by batch, one transaction each."""
    result = RebuildResult()
    for crm in customer_events:
        with transaction(sessions) as session:
            apply_customer_events(session=session, events=crm, ctx=context(session))
        result.customer_events += len(crm)
        if progress:
            progress(len(crm))
    for voice in voices:
        with transaction(sessions) as session:
            apply_enriched(session=session, events=voice, ctx=context(session))
        result.voices += len(voice)
        if progress:
            progress(len(voice))
    return result


def snapshot(sessions: sessionmaker[Session]) -> dict[str, Any]:
    """What a rebuild must reproduce: rollups exactly, customers keyed by the company's ids."""
    with sessions() as s:
        parents = {str(c): str(m) for c, m in s.execute(select(Customer.id, Customer.merged_into)
                                                        .where(Customer.merged_into.is_not(None)))}

        def root(cid: str) -> str:
            while cid in parents:
                cid = parents[cid]
            return cid

        company = {root(str(c)): str(v) for v, c in s.execute(
            select(CustomerIdentity.value, CustomerIdentity.customer_id).where(CustomerIdentity.kind == "id"))}
        customers = {company[c.id]: (c.state, c.health, c.value, c.touchpoints)
                     for c in s.scalars(select(Customer).where(Customer.merged_into.is_(None))) if c.id in company}
        transitions = sorted((company[t.customer_id], t.at.isoformat(), t.to_state)
                             for t in s.scalars(select(StateChange)) if t.customer_id in company)
        return {
            "items": s.scalar(select(func.count()).select_from(FeedbackItem)),
            "stage_days": sorted(tuple(r) for r in s.execute(select(StageDay.__table__)).all()),
            "experience_days": sorted(tuple(r) for r in s.execute(select(ExperienceDay.__table__)).all()),
            "phrases": sorted(tuple(r) for r in s.execute(select(StageDayPhrase.__table__)).all()),
            "stage_quarters": sorted(tuple(r) for r in s.execute(select(StageQuarter.__table__)).all()),
            "experience_quarters": sorted(tuple(r) for r in s.execute(select(ExperienceQuarter.__table__)).all()),
            "quarter_phrases": sorted(tuple(r) for r in s.execute(select(StageQuarterPhrase.__table__)).all()),
            "customers": customers,
            "transitions": transitions,
        }


def compare(live: sessionmaker[Session], rebuilt: sessionmaker[Session]) -> list[str]:
    """The parts that differ (empty: identical)."""
    a, b = snapshot(live), snapshot(rebuilt)
    return [key for key in a if a[key] != b[key]]


def batched(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    """Lists of up to ``size`` items."""
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
