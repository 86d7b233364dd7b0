"""Versioned topic names and the payload model each one carries.

Additive changes keep a topic's version; a breaking change gets a new topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from shared.contracts.customer import CustomerEvent
from shared.contracts.envelope import EVENT_TYPE_PREFIX
from shared.contracts.feedback import FeedbackEnriched, FeedbackReceived
from shared.contracts.journey import CustomerStoryChanged, JourneyAlert
from shared.contracts.journey_map import JourneyMap

FEEDBACK_RAW = "lp.feedback.raw.v1"
FEEDBACK_ENRICHED = "lp.feedback.enriched.v1"
CUSTOMER_EVENTS = "lp.customer.events.v1"
CUSTOMER_STORY = "lp.customer.story.v1"
JOURNEY_ALERTS = "lp.journey.alerts.v1"
JOURNEY_MAP = "lp.journey.map.v1"

SINGLE_PARTITION_TOPICS = frozenset({JOURNEY_MAP})
"""Topics created with one partition whatever the configured count: their order is global (the last
journey map published is the one in force)."""


NLP_GROUP = "lp-nlp"
JOURNEY_FEEDBACK_GROUP = "lp-journey"
JOURNEY_CUSTOMER_GROUP = "lp-journey-customers"
CONSUMER_GROUPS = (NLP_GROUP, JOURNEY_FEEDBACK_GROUP, JOURNEY_CUSTOMER_GROUP)
"""The product's consumer groups; each has a dead-letter topic."""


def dead_letter_topic(consumer_group: str) -> str:
    """The dead-letter topic of one consumer group: where its unprocessable messages go, with the reason."""
    return f"lp.dlq.{consumer_group}.v1"


@dataclass(frozen=True)
class TopicContract:
    """What one topic carries: its CloudEvents type, payload model and key."""

    topic: str
    event_type: str
    payload: type[BaseModel]
    key: str
    producer: str
    consumers: tuple[str, ...]


CONTRACTS: tuple[TopicContract, ...] = (
    TopicContract(
        FEEDBACK_RAW,
        f"{EVENT_TYPE_PREFIX}.feedback.received.v1",
        FeedbackReceived,
        "customer key where known, else the feedback id",
        "ingest",
        ("nlp",),
    ),
    TopicContract(
        FEEDBACK_ENRICHED,
        f"{EVENT_TYPE_PREFIX}.feedback.enriched.v1",
        FeedbackEnriched,
        "customer key where known, else the feedback id",
        "nlp",
        ("journey",),
    ),
    TopicContract(
        CUSTOMER_EVENTS,
        f"{EVENT_TYPE_PREFIX}.customer.event.v1",
        CustomerEvent,
        "customer key",
        "ingest",
        ("journey",),
    ),
    TopicContract(
        CUSTOMER_STORY,
        f"{EVENT_TYPE_PREFIX}.customer.story_changed.v1",
        CustomerStoryChanged,
        "customer id",
        "journey",
        (),
    ),
    TopicContract(
        JOURNEY_ALERTS,
        f"{EVENT_TYPE_PREFIX}.journey.alert.v1",
        JourneyAlert,
        "stage id, else customer id",
        "journey",
        (),
    ),
    TopicContract(
        JOURNEY_MAP,
        f"{EVENT_TYPE_PREFIX}.journey.map_published.v1",
        JourneyMap,
        "company (one partition: the last message is the map in force)",
        "journey",
        ("nlp",),
    ),
)

CONTRACT_BY_TOPIC = {c.topic: c for c in CONTRACTS}

PRODUCT_TOPICS: tuple[str, ...] = (*(c.topic for c in CONTRACTS), *(dead_letter_topic(g) for g in CONSUMER_GROUPS))
"""Every topic the product uses: what the bundled broker declares each time it starts."""
