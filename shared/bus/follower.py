"""Following a small topic from its start, without a consumer group: every replica sees every message.

Used for announcements every instance must act on (a new journey map version),
as opposed to work shared out between a group's members.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from shared.contracts.envelope import CloudEvent

log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT", bound=BaseModel)


class TopicFollower(Generic[PayloadT]):
    """Calls ``on_event`` for each valid event on every partition of ``topic``, oldest first."""

    def __init__(self, *, bootstrap: str, topic: str, payload: type[PayloadT],
                 on_event: Callable[[CloudEvent[PayloadT]], None]) -> None:
        self._bootstrap = bootstrap
        self._topic = topic
        self._envelope: type[CloudEvent[PayloadT]] = CloudEvent[payload]  # type: ignore[valid-type]
        self._on_event = on_event

    def run(self, stop: threading.Event) -> None:
        """Follow until ``stop`` is set."""
        consumer = KafkaConsumer(bootstrap_servers=self._bootstrap.split(","), enable_auto_commit=False,
                                 group_id=None, allow_auto_create_topics=False)
        try:
            partitions: set[int] = set()
            while not partitions and not stop.is_set():  # the first calls may precede a metadata fetch
                partitions = consumer.partitions_for_topic(self._topic) or set()
                if not partitions:
                    stop.wait(0.2)
            tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            consumer.seek_to_beginning(*tps)
            while not stop.is_set():
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        try:
                            event = self._envelope.model_validate_json(record.value)
                        except ValidationError as exc:
                            log.warning("ignoring an invalid announcement", extra={"topic": self._topic,
                                                                                    "error": str(exc)[:300]})
                            continue
                        self._on_event(event)
        finally:
            consumer.close()
