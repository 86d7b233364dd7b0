"""Publishing CloudEvents to Kafka with ``acks=all``, through librdkafka (confluent-kafka).

The producer is the one hot client of the bus: every event of every service goes through it, the ingest
relay's at tens of thousands a second. librdkafka encodes and batches records in C (3.9 us of CPU per
message against the bundled broker, where kafka-python's pure-Python record builder took 18.5: bench/producer.py;
docs/ingest.md). Consumers and admin calls stay on kafka-python: they are not where the CPU goes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Collection, Sequence
from functools import partial
from typing import Any, NamedTuple

from confluent_kafka import KafkaError as RdKafkaError
from confluent_kafka import KafkaException, Message, Producer
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError, OffsetOutOfRangeError

from shared.bus.admin import broker_reachable, end_offsets, ensure_topics

log = logging.getLogger(__name__)
librdkafka_log = logging.getLogger("shared.bus.librdkafka")
"""Where librdkafka's own log lines go (connection failures, retries), instead of the process' stderr."""


class _ClientLog:
    """librdkafka's log lines, at WARNING at most: a broker away is retried by the client and then by our callers,
    whose own warnings say so; the client's line per reconnect attempt is not an error of ours."""

    @staticmethod
    def log(level: int, msg: str, *args: object) -> None:
        librdkafka_log.log(min(level, logging.WARNING), msg, *args)


class Delivery(NamedTuple):
    """Where the broker put one acknowledged message."""

    topic: str
    partition: int
    offset: int


class OutgoingMessage(NamedTuple):
    """One message ready for the wire: topic, key and the serialised event.

    A named tuple (like ``Delivery``), not a frozen dataclass: a relay makes one per message, and a frozen
    dataclass takes about twice as long to make.
    """

    topic: str
    key: str | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


class PublishError(KafkaError):  # type: ignore[misc]
    """The broker did not acknowledge every message of a publish in time (or refused one). A ``KafkaError``, so
    callers that retry the bus's transient failures retry it."""

    retriable = True


BATCH_BYTES = 512 * 1024
"""Bytes of one record batch: about 400 events of ~1.2 kB, so a relay round of up to 5,000 goes out as a few batches
per partition. Below the broker's default message limit (1 MB)."""


class _Round:
    """The delivery reports of one ``deliver`` call, filled in by librdkafka's callbacks."""

    __slots__ = ("deliveries", "errors")

    def __init__(self, size: int) -> None:
        self.deliveries: list[Delivery | None] = [None] * size
        self.errors: list[str] = []

    def report(self, index: int, error: RdKafkaError | None, message: Message) -> None:
        if error is not None:
            self.errors.append(f"{message.topic()}: {error.str()}")
            return
        self.deliveries[index] = Delivery(str(message.topic()), int(message.partition() or 0),
                                          int(message.offset() or 0))


class EventProducer:
    """A thin, typed wrapper over librdkafka's producer that waits for every acknowledgement it asks for.

    Keys are placed as the Java client and kafka-python place them (``murmur2_random``: murmur2 of the key), so a
    customer's events stay on the partition they always went to. One message in flight per connection keeps a
    key's order across retries. Not idempotent: a broker restarted without its producer state (the bundled broker
    keeps it in memory) would refuse the producer id forever; duplicates a retry may cause are dropped by the
    consumers' event ids.

    The client is created on first use and dropped after any failed publish (what it still holds is purged, so
    nothing of a failed call is sent later behind the caller's back); the caller retries and the next publish
    connects afresh. The broker is never let to create a topic: after a failed publish the producer creates
    whichever of the batch's topics are missing - with ``partitions`` partitions, as ``ensure_topics`` does at
    start-up - so a broker that lost its topics (the bundled in-memory one, restarted) gets them back as the
    services declared them before the retry.
    """

    def __init__(self, bootstrap: str, *, client_id: str, linger_ms: int = 5, partitions: int = 3,
                 timeout_ms: int = 15_000, **overrides: Any) -> None:
        self._bootstrap = bootstrap
        self._partitions = partitions
        self._client_id = client_id
        config: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "client.id": client_id,
            "acks": "all",
            "linger.ms": linger_ms,
            "retries": 5,
            "max.in.flight.requests.per.connection": 1,
            "enable.idempotence": False,
            "partitioner": "murmur2_random",
            "allow.auto.create.topics": False,
            "batch.size": BATCH_BYTES,
            "request.timeout.ms": timeout_ms,
            # A message neither acknowledged nor refused by then fails its publish (the broker is away).
            "message.timeout.ms": timeout_ms,
            # An unknown topic fails the publish soon, so that it is created (see above) and the call retried.
            "topic.metadata.propagation.max.ms": min(timeout_ms, 5_000),
            "log.connection.close": False,
        }
        config.update(overrides)
        self._config = config
        self._timeout_s = timeout_ms / 1000
        self._producer: Producer | None = None
        self._topics: set[str] = set()
        """Topics this client saw on the broker (checked once per client: see ``_declare``)."""
        self._reader: KafkaConsumer | None = None
        self._lock = threading.Lock()

    def publish(self, messages: Sequence[OutgoingMessage], *, timeout_s: float = 30.0) -> None:
        """Send all messages and return once the broker acknowledged every one; raise on any failure."""
        self.deliver(messages, timeout_s=timeout_s)

    def deliver(self, messages: Sequence[OutgoingMessage], *, timeout_s: float = 30.0) -> list[Delivery]:
        """``publish``, returning where the broker put each message (in order)."""
        with self._lock:  # one caller's flush would otherwise wait for another's messages, and drop them on failure
            if self._producer is None:
                self._producer = Producer(self._config, logger=_ClientLog())
            try:
                self._declare(self._producer, {m.topic for m in messages})
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

    def _declare(self, producer: Producer, topics: set[str]) -> None:
        """Create the topics the broker lacks before the first message to them: librdkafka would otherwise hold
        such messages until the topic's metadata fails to appear (``topic.metadata.propagation.max.ms``)."""
        new = topics - self._topics
        if not new:
            return
        try:
            present = set(producer.list_topics(timeout=self._timeout_s).topics)
        except KafkaException as exc:
            raise PublishError(f"the broker at {self._bootstrap} did not answer: {exc}") from exc
        if new - present:
            ensure_topics(self._bootstrap, sorted(new - present), partitions=self._partitions)
        self._topics |= new

    @staticmethod
    def _send_all(producer: Producer, messages: Sequence[OutgoingMessage], timeout_s: float) -> list[Delivery]:
        sent = _Round(len(messages))
        for index, m in enumerate(messages):
            report = partial(sent.report, index)
            while True:
                try:
                    producer.produce(m.topic, m.value, m.key.encode("utf-8") if m.key is not None else None,
                                     on_delivery=report, headers=list(m.headers))
                    break
                except BufferError:  # the client's queue is full: let it send, then queue the rest
                    producer.poll(0.1)
                except KafkaException as exc:
                    raise PublishError(f"message to {m.topic} refused: {exc}") from exc
        left = producer.flush(timeout_s)
        if sent.errors or left:
            reasons = sent.errors[:3] or [f"{left} message(s) not acknowledged within {timeout_s:g} s"]
            raise PublishError(f"{len(messages) - sum(d is not None for d in sent.deliveries)} of {len(messages)} "
                               f"message(s) not published: {'; '.join(reasons)}")
        return [d for d in sent.deliveries if d is not None]

    def log_ends(self, partitions: Collection[tuple[str, int]], *, timeout_s: float = 2.0
                 ) -> dict[tuple[str, int], int]:
        """Where the broker's log of each (topic, partition) ends now: the offset its next message would get, or 0
        for a partition the broker no longer has (a topic it lost and created again with fewer partitions). Raises
        when the broker cannot say; the reader (a group-less consumer) is then made afresh on the next call."""
        reader = self._audit_reader(timeout_s)
        try:
            if not broker_reachable(self._bootstrap):  # the metadata call below would wait for it
                raise ConnectionError(f"Kafka broker at {self._bootstrap} does not answer")
            reader.topics()  # fresh metadata: the partitions the broker has now, not those it had
            present = [TopicPartition(t, p) for t, p in partitions if p in reader.partitions_for_topic(t)]
            ends = end_offsets(reader, present, timeout_s=timeout_s) if present else {}
        except Exception:
            self._drop_reader()
            raise
        return {(t, p): int(ends.get(TopicPartition(t, p)) or 0) for t, p in partitions}

    def holds(self, topic: str, partition: int, offset: int, *, timeout_s: float = 2.0) -> bool | None:
        """Whether the broker still serves the message at ``offset`` of (``topic``, ``partition``), read from the
        log itself: True when a fetch from there returns it, False when the broker says the offset is past the log's
        end, None when no answer came within ``timeout_s`` (a fetch at the log's very end waits for new messages).
        Raises when the broker cannot be asked.

        ``log_ends`` asks where a log ends (ListOffsets). The bundled broker (tansu) can answer a few hundred
        messages short after appends of several record batches, while every message is there to fetch.
        """
        reader = self._audit_reader(timeout_s)
        tp = TopicPartition(topic, partition)
        try:
            if not broker_reachable(self._bootstrap):
                raise ConnectionError(f"Kafka broker at {self._bootstrap} does not answer")
            reader.assign([tp])
            reader.seek(tp, offset)
            deadline = time.monotonic() + timeout_s
            while (left := deadline - time.monotonic()) > 0:
                try:
                    records = reader.poll(timeout_ms=max(1, int(left * 1000)), max_records=1).get(tp, [])
                except OffsetOutOfRangeError:
                    return False
                if records:
                    return bool(records[0].offset >= offset)
            return None
        except Exception:
            self._drop_reader()
            raise
        finally:
            if self._reader is not None:
                self._reader.assign([])

    def _audit_reader(self, timeout_s: float) -> KafkaConsumer:
        """The group-less consumer that ``log_ends`` and ``holds`` ask, made on first use."""
        if self._reader is None:
            self._reader = KafkaConsumer(
                bootstrap_servers=self._bootstrap.split(","), client_id=f"{self._client_id}-audit",
                enable_auto_commit=False, allow_auto_create_topics=False, metrics_enabled=False,
                auto_offset_reset="none",  # a fetch past the log's end raises instead of moving elsewhere
                request_timeout_ms=max(1000, int(timeout_s * 1000)) + 500)
        return self._reader

    def _drop_reader(self) -> None:
        """Forget the audit consumer after a failure: the next call makes it afresh."""
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def _drop(self) -> None:
        """Forget the client after a failure; what it still holds is purged (reported failed), never sent later."""
        producer, self._producer = self._producer, None
        self._topics.clear()
        if producer is not None:
            try:
                producer.purge(in_queue=True, in_flight=True, blocking=False)
                producer.flush(0)  # serves the purged messages' reports
                producer.close()
            except Exception:
                log.warning("closing a failed Kafka producer raised; dropped it anyway")

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what is pending and close the connections."""
        with self._lock:
            producer, self._producer = self._producer, None
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()
        if producer is not None:
            left = producer.flush(timeout_s)
            if left:
                log.warning("closing the producer with messages not acknowledged", extra={"messages": left})
            producer.close()
