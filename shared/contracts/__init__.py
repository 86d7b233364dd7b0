"""Event contracts shared by every service and published to other teams."""

from shared.contracts.customer import CustomerEvent, CustomerEventKind
from shared.contracts.envelope import CloudEvent, new_event_id, utcnow
from shared.contracts.feedback import (
    CustomerRef,
    FeedbackEnriched,
    FeedbackKind,
    FeedbackReceived,
    FeedbackSource,
    Scores,
    SentimentLabel,
    SentimentTag,
    StageCandidate,
    StageMethod,
    StageTag,
)
from shared.contracts.journey_map import JourneyMap, JourneyMapError, PriorityExperience, SourceHint, Stage
from shared.contracts.topics import (
    CONTRACT_BY_TOPIC,
    CONTRACTS,
    CUSTOMER_EVENTS,
    CUSTOMER_STORY,
    FEEDBACK_ENRICHED,
    FEEDBACK_RAW,
    JOURNEY_ALERTS,
    TopicContract,
    dead_letter_topic,
)

__all__ = [
    "CONTRACTS",
    "CONTRACT_BY_TOPIC",
    "CUSTOMER_EVENTS",
    "CUSTOMER_STORY",
    "FEEDBACK_ENRICHED",
    "FEEDBACK_RAW",
    "JOURNEY_ALERTS",
    "CloudEvent",
    "CustomerEvent",
    "CustomerEventKind",
    "CustomerRef",
    "FeedbackEnriched",
    "FeedbackKind",
    "FeedbackReceived",
    "FeedbackSource",
    "JourneyMap",
    "JourneyMapError",
    "PriorityExperience",
    "Scores",
    "SentimentLabel",
    "SentimentTag",
    "SourceHint",
    "Stage",
    "StageCandidate",
    "StageMethod",
    "StageTag",
    "TopicContract",
    "dead_letter_topic",
    "new_event_id",
    "utcnow",
]
