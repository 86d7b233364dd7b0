"""The consumer loop every pipeline stage runs: poll → decode → process → dead-letter → commit.

Offsets are committed only after a batch is processed and stored (and
everything it produced is acknowledged), so delivery is at-least-once and
processors must be idempotent on the event id.

Failures are sorted in two:

* **transient** (the database or broker is unavailable: the exception types
  the service names): the batch is retried with capped exponential backoff,
  for as long as it takes, and nothing is committed meanwhile;
* **anything else**: the message cannot be processed. A failing batch is
  split and retried one message at a time so that only the poison message
  goes to the dead-letter topic, with the reason; the rest go on.
"""

from __future__ import annotations

import base64
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from kafka import KafkaConsumer
from kafka.errors import CommitFailedError, KafkaError
from kafka.structs import OffsetAndMetadata, TopicPartition
from pydantic import BaseModel, ValidationError

from shared.bus.producer import EventProducer, OutgoingMessage
from shared.contracts.dead_letter import DeadLetter
from shared.contracts.envelope import CloudEvent, utcnow
from shared.contracts.topics import dead_letter_topic
from shared.observability.metrics import CONSUMER_LAG, PIPELINE_ITEMS

log = logging.getLogger(__name__)

PayloadT = TypeVar("PayloadT", bound=BaseModel)


@dataclass(frozen=True)
class ConsumedEvent(Generic[PayloadT]):
    """A decoded event and where it was read from."""

    topic: str
    partition: int
    offset: int
    key: str | None
    event: CloudEvent[PayloadT]


class Stopping(Exception):
    """Raised inside the loop when shutdown was asked for in the middle of a retry."""


BatchProcessor = Callable[[Sequence[ConsumedEvent[PayloadT]]], None]


@dataclass(frozen=True)
class ConsumerConfig:
    """Tuning of one consumer group."""

    group_id: str
    topics: tuple[str, ...]
    batch_size: int = 64
    max_wait_ms: int = 200
    max_poll_interval_ms: int = 60000
    session_timeout_ms: int = 10000
    heartbeat_interval_ms: int = 2000
    max_backoff_s: float = 10.0


class BatchConsumer(Generic[PayloadT]):
    """Runs ``processor`` over batches of one payload type until ``stop`` is set."""

    def __init__(
        self,
        *,
        bootstrap: str,
        config: ConsumerConfig,
        payload: type[PayloadT],
        processor: BatchProcessor[PayloadT],
        producer: EventProducer,
        service: str,
        transient: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.config = config
        self._bootstrap = bootstrap
        self._envelope: type[CloudEvent[PayloadT]] = CloudEvent[payload]  # type: ignore[valid-type]
        self._processor = processor
        self._producer = producer
        self._service = service
        self._transient = (*transient, KafkaError)
        self._dlq_topic = dead_letter_topic(config.group_id)
        self._dead: list[OutgoingMessage] = []
        self.running = threading.Event()

    # -- the loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set; commits what was done before returning."""
        consumer = KafkaConsumer(
            *self.config.topics,
            bootstrap_servers=self._bootstrap.split(","),
            group_id=self.config.group_id,
            client_id=f"{self.config.group_id}-{threading.get_ident()}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.config.batch_size,
            max_poll_interval_ms=self.config.max_poll_interval_ms,
            session_timeout_ms=self.config.session_timeout_ms,
            heartbeat_interval_ms=self.config.heartbeat_interval_ms,
        )
        self.running.set()
        try:
            while not stop.is_set():
                records = self._collect(consumer, stop)
                if not records:
                    continue
                try:
                    self._handle(records, stop)
                except Stopping:
                    break  # nothing of this batch is committed; it is redelivered after restart
                self._commit(consumer, records)
                self._record_lag(consumer)
        finally:
            self.running.clear()
            consumer.close(autocommit=False)

    def _collect(self, consumer: KafkaConsumer, stop: threading.Event) -> list[_Record]:
        """Up to ``batch_size`` records, waiting at most ``max_wait_ms`` once the first one arrived."""
        batch: list[_Record] = []
        deadline: float | None = None
        while not stop.is_set() and len(batch) < self.config.batch_size:
            timeout_ms = 500 if deadline is None else max(0, int((deadline - time.monotonic()) * 1000))
            polled = consumer.poll(timeout_ms=timeout_ms, max_records=self.config.batch_size - len(batch))
            for records in polled.values():
                batch.extend(records)
            if batch and deadline is None:
                deadline = time.monotonic() + self.config.max_wait_ms / 1000
            if deadline is None or time.monotonic() >= deadline:
                break  # idle for a poll (go check ``stop``), or the bounded wait is over
        return batch

    def _handle(self, records: Sequence[_Record], stop: threading.Event) -> None:
        PIPELINE_ITEMS.labels(self._service, "in").inc(len(records))
        events: list[ConsumedEvent[PayloadT]] = []
        for record in records:
            try:
                envelope = self._envelope.model_validate_json(record.value)
            except ValidationError as exc:
                detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
                self._dead_letter(record, f"invalid_event: {detail}")
                continue
            key = record.key.decode("utf-8", "replace") if record.key is not None else None
            events.append(ConsumedEvent(record.topic, record.partition, record.offset, key, envelope))
        if events:
            self._process(events, stop, records_by_offset={(r.partition, r.offset): r for r in records})
        if self._dead:
            self._retry_transient(lambda: self._producer.publish(self._dead), stop)
            PIPELINE_ITEMS.labels(self._service, "dead_lettered").inc(len(self._dead))
            self._dead = []

    def _process(
        self,
        events: list[ConsumedEvent[PayloadT]],
        stop: threading.Event,
        records_by_offset: dict[tuple[int, int], _Record],
    ) -> None:
        try:
            self._retry_transient(lambda: self._processor(events), stop)
            PIPELINE_ITEMS.labels(self._service, "processed").inc(len(events))
        except (Stopping, *self._transient):
            raise
        except Exception as exc:
            if len(events) > 1:
                log.warning("batch failed, isolating the failing message", extra={"error": repr(exc)})
                for one in events:
                    self._process([one], stop, records_by_offset)
                return
            bad = events[0]
            log.error(
                "message cannot be processed, dead-lettered",
                extra={"topic": bad.topic, "partition": bad.partition, "offset": bad.offset, "error": repr(exc)},
            )
            PIPELINE_ITEMS.labels(self._service, "failed").inc()
            self._dead_letter(records_by_offset[(bad.partition, bad.offset)],
                              f"processing_failed: {type(exc).__name__}: {exc}")

    def _retry_transient(self, action: Callable[[], None], stop: threading.Event) -> None:
        """Run ``action``; while it fails for a transient reason, back off (with jitter) and try again."""
        attempt = 0
        while True:
            try:
                action()
                return
            except self._transient as exc:
                attempt += 1
                delay = min(self.config.max_backoff_s, 0.2 * 2 ** min(attempt, 10))
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security
                log.warning("transient failure, retrying", extra={"attempt": attempt, "error": repr(exc),
                                                                  "retry_in_s": round(delay, 2)})
                if stop.wait(delay):
                    raise Stopping from exc

    def _dead_letter(self, record: _Record, reason: str) -> None:
        try:
            value, encoding = record.value.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            value, encoding = base64.b64encode(record.value).decode("ascii"), "base64"
        letter = DeadLetter(
            consumer_group=self.config.group_id,
            reason=reason[:2000],
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key.decode("utf-8", "replace") if record.key is not None else None,
            value=value,
            value_encoding=encoding,
            failed_at=utcnow(),
        )
        self._dead.append(
            OutgoingMessage(
                self._dlq_topic,
                letter.key,
                letter.model_dump_json().encode("utf-8"),
                headers=(("lp-dlq-reason", reason.split(":", 1)[0].encode("utf-8")),),
            )
        )

    def _commit(self, consumer: KafkaConsumer, records: Sequence[_Record]) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            if tp not in offsets or offsets[tp].offset <= record.offset:
                offsets[tp] = OffsetAndMetadata(record.offset + 1, "", -1)
        try:
            consumer.commit(offsets)
        except CommitFailedError:
            # The group rebalanced while we worked: the new owner gets these again; processing is idempotent.
            log.warning("offset commit refused after a rebalance; the batch will be redelivered")

    def _record_lag(self, consumer: KafkaConsumer) -> None:
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            position = consumer.position(tp, timeout_ms=1000)
            if position is not None:
                CONSUMER_LAG.labels(self.config.group_id, tp.topic, str(tp.partition)).set(max(0, high - position))


class _Record:
    """The attributes of kafka-python's ``ConsumerRecord`` this module reads (for typing)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
