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

Observability: ``lp_pipeline_items_total`` (in, processed, failed, dead_lettered), ``lp_dead_letters_total``
by group and reason, and ``lp_consumer_lag`` per assigned partition, refreshed at most every
``lag_interval_s`` whether or not messages arrive. Each batch is logged once, with the trace ids of its events,
and every log line written while it is processed carries them.
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
from shared.observability.logs import trace_context
from shared.observability.metrics import CONSUMER_LAG, DEAD_LETTERS, PIPELINE_ITEMS, Every
from shared.observability.tracing import parse_trace_id

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


DEAD_LETTER_REASONS = ("invalid_event", "processing_failed")
"""Why a message goes to the dead-letter topic (the ``lp-dlq-reason`` header and the metric's label)."""


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
    lag_interval_s: float = 5.0


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
        self._lag_due = Every(config.lag_interval_s)
        self._lag_series: set[tuple[str, str, str]] = set()
        self.running = threading.Event()
        # Series that exist from the start read 0 rather than "no data" (and rate() sees the first increase).
        for outcome in ("in", "processed", "failed", "dead_lettered"):
            PIPELINE_ITEMS.labels(service, outcome)
        for reason in DEAD_LETTER_REASONS:
            DEAD_LETTERS.labels(config.group_id, reason)

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
            # Topics are created by ensure_topics only (see there). A topic the broker lost comes back when it is
            # declared again (the embedded broker on start, a producer after a failed publish); refresh metadata
            # often enough to see it, and its new id, soon.
            allow_auto_create_topics=False,
            metadata_max_age_ms=10_000,
        )
        self.running.set()
        topic_ids: dict[str, object] = {}
        try:
            while not stop.is_set():
                records = self._collect(consumer, stop)
                recreated = self._reread_recreated_topics(consumer, topic_ids)
                records = [r for r in records if r.topic not in recreated]
                if records:
                    try:
                        self._handle(records, stop)
                    except Stopping:
                        break  # nothing of this batch is committed; it is redelivered after restart
                    self._commit(consumer, records)
                if self._lag_due.due():
                    self._record_lag(consumer)
        finally:
            self.running.clear()
            self._forget_lag(set())
            consumer.close(autocommit=False)

    def _reread_recreated_topics(self, consumer: KafkaConsumer, known: dict[str, object]) -> set[str]:
        """Topics that were created anew since last seen (a broker that lost its state, e.g. the bundled in-memory
        one restarted): everything on them is new, yet kafka-python keeps its old positions (past their start), so
        read them again from the beginning. Returns those topics; records polled from them before are dropped."""
        cluster = consumer._client.cluster  # kafka-python has no public accessor of topic ids
        recreated: set[str] = set()
        for topic in self.config.topics:
            current = cluster.topic_id(topic)
            if current is not None:
                if known.get(topic, current) != current:
                    recreated.add(topic)
                known[topic] = current
        partitions = [tp for tp in consumer.assignment() if tp.topic in recreated]
        if partitions:
            log.warning("topic created anew (the broker lost it); reading it from the start",
                        extra={"group": self.config.group_id, "topics": sorted(recreated)})
            consumer.seek_to_beginning(*partitions)
        return recreated

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
        with trace_context(parse_trace_id(e.event.traceparent) for e in events):
            if events:
                self._process(events, stop, records_by_offset={(r.partition, r.offset): r for r in records})
            dead = self._dead
            if dead:
                self._retry_transient(lambda: self._producer.publish(dead), stop)
                PIPELINE_ITEMS.labels(self._service, "dead_lettered").inc(len(dead))
                for letter in dead:
                    DEAD_LETTERS.labels(self.config.group_id, _dead_letter_reason(letter)).inc()
                self._dead = []
            log.info("batch processed", extra={"group": self.config.group_id, "items": len(records),
                                               "dead_lettered": len(dead)})

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
                    with trace_context([parse_trace_id(one.event.traceparent)]):
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
        """Set ``lp_consumer_lag`` for each assigned partition: end offset minus position.

        The end offset is the high watermark of the last fetch response (free); only partitions not fetched
        from yet cost one ListOffsets request. Partitions no longer assigned lose their series.
        """
        group = self.config.group_id
        seen: set[tuple[str, str, str]] = set()
        try:
            assigned = consumer.assignment()
            ends = {tp: consumer.highwater(tp) for tp in assigned}
            unknown = [tp for tp, end in ends.items() if end is None]
            if unknown:
                ends.update(consumer.end_offsets(unknown))
            for tp, end in ends.items():
                position = consumer.position(tp, timeout_ms=1000)
                if end is None or position is None:
                    continue
                labels = (group, tp.topic, str(tp.partition))
                CONSUMER_LAG.labels(*labels).set(max(0, end - position))
                seen.add(labels)
        except KafkaError as exc:
            log.debug("consumer lag not refreshed", extra={"group": group, "error": repr(exc)})
            return
        self._forget_lag(seen)

    def _forget_lag(self, keep: set[tuple[str, str, str]]) -> None:
        for labels in self._lag_series - keep:
            try:
                CONSUMER_LAG.remove(*labels)
            except KeyError:
                pass
        self._lag_series = keep


def _dead_letter_reason(message: OutgoingMessage) -> str:
    """The reason code a dead letter carries in its ``lp-dlq-reason`` header."""
    for name, value in message.headers:
        if name == "lp-dlq-reason":
            return value.decode("utf-8", "replace")
    return "unknown"


class _Record:
    """The attributes of kafka-python's ``ConsumerRecord`` this module reads (for typing)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
