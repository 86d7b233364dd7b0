"""Assembling a customer's story from the story store."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.orm import Session

from services.journey.identity.repository import IdentityRepository
from services.journey.models import Customer
from services.reporting.customers.repository import CustomerReadRepository
from services.reporting.customers.schemas import (
    CustomerStory,
    CustomerSummary,
    StageTouched,
    StateChangeOut,
    TimelineEntry,
)
from shared.contracts import AssetState, StateReason
from shared.http import NotFound

TIMELINE_LIMIT = 500


def summary(c: Customer) -> CustomerSummary:
    """The API shape of a customer."""
    return CustomerSummary(
        id=c.id, name=c.display_name, state=AssetState(c.state), health=c.health, value=c.value,
        currency=c.currency, segment=c.segment, owner=c.owner, nps_latest=c.nps_latest, nps_category=c.nps_category,
        sentiment_trend=c.sentiment_trend, last_touch_at=c.last_touch_at, touchpoints=c.touchpoints,
        reasons=[StateReason.model_validate(r) for r in c.reasons],
    )


def story(session: Session, customer_id: str) -> CustomerStory:
    """One customer's story; a merged customer's id leads to the customer it was merged into."""
    repo = CustomerReadRepository(session)
    identities = IdentityRepository(session)
    customer = repo.get(customer_id)
    if customer is None:
        raise NotFound(f"no customer {customer_id}")
    while customer.merged_into is not None:
        merged = repo.get(customer.merged_into)
        if merged is None:
            break
        customer = merged
    members = identities.members(customer.id)
    voices = repo.voices(members, TIMELINE_LIMIT)
    events = repo.events(members, TIMELINE_LIMIT)
    timeline = [
        TimelineEntry(at=v.occurred_at, type="voice", id=v.feedback_id, source=v.source, provider=v.provider,
                      stage=v.stage_id, sentiment=v.sentiment_label, sentiment_score=v.sentiment_score, nps=v.nps,
                      csat=v.csat, text=v.text)
        for v in voices
    ] + [
        TimelineEntry(at=e.occurred_at, type="crm", id=e.event_id, provider=e.provider, event_kind=e.kind,
                      value_delta=e.value_delta)
        for e in events
    ]
    timeline.sort(key=lambda t: (t.at, t.id), reverse=True)
    per_stage: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    last_pain: dict[str, str] = {}
    for v in voices:  # newest first: the first negative seen per stage is the latest
        if v.stage_id is None:
            continue
        per_stage[v.stage_id][0] += 1
        if v.sentiment_label == "negative":
            per_stage[v.stage_id][1] += 1
            last_pain.setdefault(v.stage_id, v.text)
    stages = [StageTouched(stage=s, voices=n, negative=neg, last_pain=last_pain.get(s))
              for s, (n, neg) in sorted(per_stage.items(), key=lambda kv: (-kv[1][1], kv[0]))]
    history = [StateChangeOut(at=h.at, from_state=AssetState(h.from_state) if h.from_state else None,
                              to_state=AssetState(h.to_state), value=h.value)
               for h in repo.state_history(customer.id)]
    return CustomerStory(customer=summary(customer), merged_ids=[m for m in members if m != customer.id],
                         stages=stages, state_history=history, timeline=timeline[:TIMELINE_LIMIT])
