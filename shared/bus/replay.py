"""Reading a topic from its beginning to the end it had when the read started (for rebuilds and replays)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TypeVar

from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from shared.contracts.envelope import CloudEvent

PayloadT = TypeVar("PayloadT", bound=BaseModel)


def read_to_end(bootstrap: str, topic: str, payload: type[PayloadT], *, batch_size: int = 500,
                timeout_s: float = 120.0) -> Iterator[list[CloudEvent[PayloadT]]]:
    """Batches of the valid events of ``topic`` (invalid ones are skipped: they are in the dead-letter topics)."""
    envelope: type[CloudEvent[PayloadT]] = CloudEvent[payload]  # type: ignore[valid-type]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, group_id=None,
                             allow_auto_create_topics=False)
    try:
        partitions: set[int] = set()
        deadline = time.monotonic() + 10
        while not partitions and time.monotonic() < deadline:  # the first calls may precede a metadata fetch
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                time.sleep(0.2)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        begins = consumer.beginning_offsets(tps)
        ends = consumer.end_offsets(tps)
        expected = {tp: ends[tp] - begins[tp] for tp in tps if ends[tp] > begins[tp]}
        read: dict[TopicPartition, int] = dict.fromkeys(expected, 0)
        batch: list[CloudEvent[PayloadT]] = []
        deadline = time.monotonic() + timeout_s
        while any(read[tp] < expected[tp] for tp in expected):
            if time.monotonic() > deadline:
                short = {f"{tp.topic}[{tp.partition}]": f"{read[tp]}/{expected[tp]}" for tp in expected}
                raise TimeoutError(f"could not read {topic} to its end in {timeout_s:.0f}s: {short}")
            for tp, records in consumer.poll(timeout_ms=500, max_records=batch_size).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    read[tp] += 1
                    try:
                        batch.append(envelope.model_validate_json(record.value))
                    except ValidationError:
                        continue
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        consumer.close()
