"""The consumer loop's own observability, on the real broker: lag per partition, dead letters by reason, and
the batch's trace ids on its log line."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Sequence

import pytest
from prometheus_client import REGISTRY
from pydantic import BaseModel

from shared.bus import BatchConsumer, ConsumedEvent, ConsumerConfig, EmbeddedBroker, EventProducer, OutgoingMessage
from shared.bus.admin import ensure_topics
from shared.contracts import CloudEvent
from shared.observability.logs import JsonFormatter
from tests.polling import wait_for


class Ping(BaseModel):
    n: int


def _event(n: int, trace_id: str) -> bytes:
    return CloudEvent[Ping](source="/test", type="test.ping", traceparent=f"00-{trace_id}-00f067aa0ba902b7-01",
                            data=Ping(n=n)).to_bytes()


def _lag(group: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value("lp_consumer_lag", {"group": group, "topic": topic, "partition": "0"})


def _dead(group: str, reason: str) -> float | None:
    return REGISTRY.get_sample_value("lp_dead_letters_total", {"group": group, "reason": reason})


def test_lag_dead_letters_and_trace_ids(broker: EmbeddedBroker, caplog: pytest.LogCaptureFixture) -> None:
    topic, group = f"t.ops.{uuid.uuid4().hex[:8]}", f"g-ops-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, [topic], partitions=1)
    traces = [uuid.uuid4().hex for _ in range(5)]
    producer = EventProducer(broker.bootstrap, client_id="ops-test")
    producer.publish([OutgoingMessage(topic, "k", _event(n, traces[n])) for n in range(5)]
                     + [OutgoingMessage(topic, "k", b"not an event")])
    lag_seen: list[float | None] = []
    done = threading.Event()

    def process(batch: Sequence[ConsumedEvent[Ping]]) -> None:
        lag_seen.append(_lag(group, topic))  # what the loop recorded after the previous batch
        if batch[0].event.data.n == 3:
            raise ValueError("3 cannot be processed")
        if batch[0].event.data.n == 4:
            done.set()

    config = ConsumerConfig(group, (topic,), batch_size=1, max_wait_ms=0, max_poll_interval_ms=10000,
                            lag_interval_s=0.0)
    consumer = BatchConsumer(bootstrap=broker.bootstrap, config=config, payload=Ping, processor=process,
                             producer=producer, service="test")
    assert _dead(group, "invalid_event") == _dead(group, "processing_failed") == 0.0  # series exist from the start
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    with caplog.at_level(logging.INFO, logger="shared.bus.consumer"):
        thread.start()
        try:
            assert done.wait(60)
            # After the batch at offset k-1 the loop records lag = 6 messages - position k.
            assert lag_seen[1:] == [6.0 - k for k in range(1, 5)]
            wait_for(lambda: _lag(group, topic) == 0.0, timeout_s=30, what="the lag drained")
            wait_for(lambda: _dead(group, "invalid_event") == 1.0, timeout_s=30, what="the invalid event counted")
            assert _dead(group, "processing_failed") == 1.0
        finally:
            stop.set()
            thread.join(20)
            producer.close()
    assert _lag(group, topic) is None  # a stopped consumer leaves no stale series behind

    batches = [r for r in caplog.records if r.getMessage() == "batch processed" and getattr(r, "group", "") == group]
    assert len(batches) == 6


class LinesHandler(logging.Handler):
    """Formats each record as it is written (the trace context is read then), keeping the lines."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter("test"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_the_batch_line_carries_its_trace_ids(broker: EmbeddedBroker) -> None:
    topic, group = f"t.ops.{uuid.uuid4().hex[:8]}", f"g-ops-{uuid.uuid4().hex[:8]}"
    ensure_topics(broker.bootstrap, [topic], partitions=1)
    traces = [uuid.uuid4().hex for _ in range(3)]
    producer = EventProducer(broker.bootstrap, client_id="ops-test")
    producer.publish([OutgoingMessage(topic, "k", _event(n, traces[n])) for n in range(3)])
    handler = LinesHandler()
    lines = handler.lines
    logger = logging.getLogger("shared.bus.consumer")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    done = threading.Event()
    config = ConsumerConfig(group, (topic,), batch_size=10, max_wait_ms=500, max_poll_interval_ms=10000)
    consumer = BatchConsumer(bootstrap=broker.bootstrap, config=config, payload=Ping,
                             processor=lambda batch: done.set() if batch[-1].event.data.n == 2 else None,
                             producer=producer, service="test")
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert done.wait(60)
        text = wait_for(lambda: "\n".join(lines) if all(t in "\n".join(lines) for t in traces) else None,
                        timeout_s=30, what="the batch line")
    finally:
        stop.set()
        thread.join(20)
        producer.close()
        logger.removeHandler(handler)
        logger.setLevel(level)
    batches = [json.loads(x) for x in text.splitlines() if json.loads(x)["message"] == "batch processed"]
    assert {b["group"] for b in batches} == {group}
    # One line per batch: "trace_ids" for a batch of several traces, "trace_id" for a batch of one.
    logged = [t for b in batches for t in b.get("trace_ids", [b.get("trace_id")])]
    assert logged == traces
