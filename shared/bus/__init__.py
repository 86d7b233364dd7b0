"""The Kafka bus: one client path (kafka-python) for embedded and production modes."""

from shared.bus.admin import broker_reachable, ensure_topics, wait_for_broker
from shared.bus.broker import EmbeddedBroker, free_port
from shared.bus.consumer import BatchConsumer, ConsumedEvent, ConsumerConfig
from shared.bus.follower import TopicFollower
from shared.bus.producer import EventProducer, OutgoingMessage

__all__ = [
    "BatchConsumer",
    "ConsumedEvent",
    "ConsumerConfig",
    "EmbeddedBroker",
    "EventProducer",
    "OutgoingMessage",
    "TopicFollower",
    "broker_reachable",
    "ensure_topics",
    "free_port",
    "wait_for_broker",
]
