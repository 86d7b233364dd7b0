"""Reading a topic from the start in tests, with a plain client and no consumer group."""

from __future__ import annotations

import time
from typing import Any

from kafka import KafkaConsumer, TopicPartition


def read_topic(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 20.0) -> list[Any]:
    """Every record of ``topic`` from the beginning, once at least ``expect`` arrived (or time ran out)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=500,
                             allow_auto_create_topics=False)
    try:
        deadline = time.monotonic() + timeout_s
        partitions: set[int] | None = None
        while not partitions and time.monotonic() < deadline:
            partitions = consumer.partitions_for_topic(topic)
            if not partitions:
                time.sleep(0.1)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        while len(records) < expect and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()
