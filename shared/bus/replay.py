"""Reading a topic from its beginning to the end it had when the read started (for rebuilds and replays)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel, ValidationError

from shared.contracts.envelope import CloudEvent

PayloadT = TypeVar("PayloadT", bound=BaseModel)


def read_to_end(bootstrap: str, topic: str, payload: type[PayloadT], *, batch_size: int = 500
                ) -> Iterator[list[CloudEvent[PayloadT]]]:
    """Batches of the valid events of ``topic`` (invalid ones are skipped: they are in the dead-letter topics)."""
    envelope: type[CloudEvent[PayloadT]] = CloudEvent[payload]  # type: ignore[valid-type]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, group_id=None)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        batch: list[CloudEvent[PayloadT]] = []
        while pending:
            for tp, records in consumer.poll(timeout_ms=1000, max_records=batch_size).items():
                for record in records:
                    if record.offset >= ends[tp]:
                        continue
                    try:
                        batch.append(envelope.model_validate_json(record.value))
                    except ValidationError:
                        continue
                if consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch
    finally:
        consumer.close()
