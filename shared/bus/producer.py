"""Publishing CloudEvents to Kafka with ``acks=all``."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.partitioner.default import DefaultPartitioner, murmur2

from shared.bus.admin import broker_reachable, end_offsets, ensure_topics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Where the broker put one acknowledged message."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class OutgoingMessage:
    """One message ready for the wire: topic, key and the serialised event."""

    topic: str
    key: str | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@lru_cache(maxsize=65536)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF


class KeyHashPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner (murmur2 of the key, as the Java client) with the hash remembered.

    Keys are customers, who write again and again; the pure-Python murmur2 costs more than the rest of
    choosing a partition. Keyless messages are left to the default's random choice.
    """

    def partition(self, topic: str, key: Any, serialized_key: bytes | None, value: Any,
                  serialized_value: bytes | None, cluster: Any) -> int:
        if serialized_key is None:
            return int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
        partitions = cluster.partitions_for_topic(topic)
        if partitions is None:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        ordered = sorted(partitions)
        return int(ordered[_key_hash(bytes(serialized_key)) % len(ordered)])


BATCH_BYTES = 512 * 1024
"""kafka-python's record batch size. Its default (16 kB) holds about a dozen events, and every new batch costs
a sender wake-up and a batch of its own; one relay round (500 events of ~1.2 kB over a few partitions) fits in
one batch per partition. Below the broker's default message limit (1 MB)."""


class EventProducer:
    """A thin, typed wrapper over ``KafkaProducer`` that waits for every acknowledgement it asks for.

    The Kafka client is created on first use and dropped after any failed publish: a broker that went
    away can leave a client in a state it never leaves (its producer id unknown to the broker that came
    back), and only a new client recovers. The caller retries; the next publish connects afresh.

    The broker is never let to create a topic (``allow_auto_create_topics=False``): after a failed publish
    the producer creates whichever of the batch's topics are missing - with ``partitions`` partitions, as
    ``ensure_topics`` does at start-up - so a broker that lost its topics (the bundled in-memory one,
    restarted) gets them back as the services declared them before the retry.
    """

    def __init__(self, bootstrap: str, *, client_id: str, linger_ms: int = 5, partitions: int = 3,
                 **overrides: Any) -> None:
        self._bootstrap = bootstrap
        self._partitions = partitions
        config: dict[str, Any] = {
            "bootstrap_servers": bootstrap.split(","),
            "client_id": client_id,
            "acks": "all",
            "linger_ms": linger_ms,
            "retries": 5,
            "max_in_flight_requests_per_connection": 1,  # keeps per-key order across retries
            # Not idempotent: a broker restarted without its producer state (the bundled broker keeps it in
            # memory) answers UnknownProducerId forever, and the client retries without end, so a send never
            # fails and SIGTERM cannot drain. Duplicates a retry may cause are dropped by the consumers' ids.
            "enable_idempotence": False,
            "request_timeout_ms": 15000,
            "max_block_ms": 15000,
            "allow_auto_create_topics": False,
            "batch_size": BATCH_BYTES,
            "partitioner": KeyHashPartitioner(),
            # kafka-python's own client metrics (sensors updated per record and batch) are not exported
            # anywhere; ours are (lp_pipeline_items_total, lp_outbox_backlog).
            "metrics_enabled": False,
        }
        config.update(overrides)
        self._config = config
        self._producer: KafkaProducer | None = None
        self._reader: KafkaConsumer | None = None

    def publish(self, messages: Sequence[OutgoingMessage], *, timeout_s: float = 30.0) -> None:
        """Send all messages and return once the broker acknowledged every one; raise on any failure."""
        self.deliver(messages, timeout_s=timeout_s)

    def deliver(self, messages: Sequence[OutgoingMessage], *, timeout_s: float = 30.0) -> list[Delivery]:
        """``publish``, returning where the broker put each message (in order)."""
        if self._producer is None:
            self._producer = KafkaProducer(**self._config)
        try:
            return self._send_all(self._producer, messages, timeout_s)
        except Exception:
            self._drop()
            self._create_missing_topics({m.topic for m in messages})
            raise

    def _create_missing_topics(self, topics: set[str]) -> None:
        try:
            ensure_topics(self._bootstrap, sorted(topics), partitions=self._partitions)
        except Exception as exc:  # the broker may be down still: the caller's retry comes back here
            log.debug("could not check the topics after a failed publish", extra={"error": repr(exc)})

    def _send_all(self, producer: KafkaProducer, messages: Sequence[OutgoingMessage], timeout_s: float
                  ) -> list[Delivery]:
        futures = [
            producer.send(
                m.topic,
                key=m.key.encode("utf-8") if m.key is not None else None,
                value=m.value,
                headers=list(m.headers),
            )
            for m in messages
        ]
        producer.flush(timeout=timeout_s)
        deliveries = []
        for future in futures:
            meta = future.get(timeout=timeout_s)
            deliveries.append(Delivery(meta.topic, meta.partition, meta.offset))
        return deliveries

    def log_ends(self, partitions: Collection[tuple[str, int]], *, timeout_s: float = 2.0
                 ) -> dict[tuple[str, int], int]:
        """Where the broker's log of each (topic, partition) ends now: the offset its next message would get, or 0
        for a partition the broker no longer has (a topic it lost and created again with fewer partitions). Raises
        when the broker cannot say; the reader (a group-less consumer) is then made afresh on the next call."""
        if self._reader is None:
            self._reader = KafkaConsumer(
                bootstrap_servers=self._config["bootstrap_servers"], client_id=f"{self._config['client_id']}-audit",
                enable_auto_commit=False, allow_auto_create_topics=False, metrics_enabled=False,
                request_timeout_ms=max(1000, int(timeout_s * 1000)) + 500)
        reader = self._reader
        try:
            if not broker_reachable(self._bootstrap):  # the metadata call below would wait for it
                raise ConnectionError(f"Kafka broker at {self._bootstrap} does not answer")
            reader.topics()  # fresh metadata: the partitions the broker has now, not those it had
            present = [TopicPartition(t, p) for t, p in partitions if p in reader.partitions_for_topic(t)]
            ends = end_offsets(reader, present, timeout_s=timeout_s) if present else {}
        except Exception:
            self._reader = None
            reader.close()
            raise
        return {(t, p): int(ends.get(TopicPartition(t, p)) or 0) for t, p in partitions}

    def _drop(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                producer.close(timeout=1.0)
            except Exception:
                log.warning("closing a failed Kafka producer raised; dropped it anyway")

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is pending and close the connections."""
        producer, self._producer = self._producer, None
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        if producer is not None:
            producer.close(timeout=timeout_s)
