"""The consumer loop against a real broker: commit after processing, dead letters, transient retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence

import pytest
from kafka import KafkaConsumer, TopicPartition
from pydantic import BaseModel

from shared.bus import BatchConsumer, ConsumedEvent, ConsumerConfig, EmbeddedBroker, EventProducer, OutgoingMessage
from shared.bus.admin import broker_reachable, ensure_topics
from shared.contracts import CloudEvent, dead_letter_topic
from tests.kafka_reading import read_topic
from tests.polling import wait_for


class Ping(BaseModel):
    n: int


class FlakyStore(Exception):
    """Stands in for a database that is down for a moment."""


def _event(n: int) -> bytes:
    return CloudEvent[Ping](source="/test", type="test.ping", data=Ping(n=n)).to_bytes()


@pytest.fixture
def topic(broker: EmbeddedBroker, request: pytest.FixtureRequest) -> str:
    name = f"t.{request.node.name[:40]}"
    ensure_topics(broker.bootstrap, [name], partitions=1)
    return name


def _run(consumer: BatchConsumer[Ping], until: threading.Event, timeout_s: float = 30.0) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        until.wait(timeout_s)
    finally:
        stop.set()
        thread.join(20)


def test_poison_messages_go_to_the_dead_letter_topic_with_a_reason(broker: EmbeddedBroker, topic: str) -> None:
    producer = EventProducer(broker.bootstrap, client_id="test")
    producer.publish([
        OutgoingMessage(topic, "k", _event(1)),
        OutgoingMessage(topic, "k", b"\xff\xfe not json"),
        OutgoingMessage(topic, "k", _event(13)),  # the processor cannot handle 13
        OutgoingMessage(topic, "k", _event(2)),
    ])
    seen: list[int] = []
    done = threading.Event()

    def process(batch: Sequence[ConsumedEvent[Ping]]) -> None:
        if any(m.event.data.n == 13 for m in batch):
            raise ValueError("13 is unlucky")
        seen.extend(m.event.data.n for m in batch)
        if 2 in seen:
            done.set()

    group = "g-poison"
    config = ConsumerConfig(group, (topic,), max_poll_interval_ms=10000)
    consumer = BatchConsumer(bootstrap=broker.bootstrap, config=config, payload=Ping, processor=process,
                             producer=producer, service="test")
    _run(consumer, done)
    assert sorted(seen) == [1, 2]

    letters = [json.loads(r.value) for r in read_topic(broker.bootstrap, dead_letter_topic(group), expect=2)]
    reasons = sorted(letter["reason"].split(":")[0] for letter in letters)
    assert reasons == ["invalid_event", "processing_failed"]
    failed = next(letter for letter in letters if letter["reason"].startswith("processing_failed"))
    assert "13 is unlucky" in failed["reason"]
    assert json.loads(failed["value"])["data"] == {"n": 13}
    invalid = next(letter for letter in letters if letter["reason"].startswith("invalid_event"))
    assert invalid["value_encoding"] == "base64"

    # Everything was handled, so the group's committed offset is past the last message.
    check = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    assert check.committed(TopicPartition(topic, 0)) == 4
    check.close()
    producer.close()


def test_transient_failures_are_retried_not_dead_lettered(broker: EmbeddedBroker, topic: str) -> None:
    producer = EventProducer(broker.bootstrap, client_id="test")
    producer.publish([OutgoingMessage(topic, None, _event(n)) for n in range(3)])
    attempts = {"n": 0}
    stored: list[int] = []
    done = threading.Event()

    def process(batch: Sequence[ConsumedEvent[Ping]]) -> None:
        attempts["n"] += 1
        if attempts["n"] <= 2:
            raise FlakyStore("database unavailable")
        stored.extend(m.event.data.n for m in batch)
        if len(stored) >= 3:
            done.set()

    group = "g-transient"
    consumer = BatchConsumer(bootstrap=broker.bootstrap, config=ConsumerConfig(group, (topic,), max_backoff_s=0.3),
                             payload=Ping, processor=process, producer=producer, service="test",
                             transient=(FlakyStore,))
    _run(consumer, done)
    assert sorted(stored) == [0, 1, 2]
    assert attempts["n"] >= 3
    assert read_topic(broker.bootstrap, dead_letter_topic(group), expect=1, timeout_s=2) == []
    producer.close()


def test_offsets_are_not_committed_before_processing_finishes(broker: EmbeddedBroker, topic: str) -> None:
    """A consumer stopped in the middle of a batch commits nothing of it; the next one gets it again."""
    producer = EventProducer(broker.bootstrap, client_id="test")
    producer.publish([OutgoingMessage(topic, None, _event(7))])
    group = "g-redeliver"
    started = threading.Event()

    def never_finishes(batch: Sequence[ConsumedEvent[Ping]]) -> None:
        started.set()
        raise FlakyStore("still down")

    first = BatchConsumer(bootstrap=broker.bootstrap, config=ConsumerConfig(group, (topic,), max_backoff_s=0.2),
                          payload=Ping, processor=never_finishes, producer=producer, service="test",
                          transient=(FlakyStore,))
    _run(first, started)

    got: list[int] = []
    done = threading.Event()

    def process(batch: Sequence[ConsumedEvent[Ping]]) -> None:
        got.extend(m.event.data.n for m in batch)
        done.set()

    second = BatchConsumer(bootstrap=broker.bootstrap, config=ConsumerConfig(group, (topic,)),
                           payload=Ping, processor=process, producer=producer, service="test")
    _run(second, done)
    assert got == [7]
    producer.close()


def test_embedded_broker_stops_and_frees_its_port() -> None:
    broker = EmbeddedBroker().start()
    assert broker_reachable(broker.bootstrap)
    broker.stop()
    assert broker.pid is None
    wait_for(lambda: not broker_reachable(broker.bootstrap), timeout_s=5, what="the port to close")


class _Cluster:
    """The two questions a partitioner asks kafka-python's cluster metadata."""

    def __init__(self, partitions: int) -> None:
        self._partitions = set(range(partitions))

    def topics(self) -> set[str]:
        return {"t"}

    def partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions

    def available_partitions_for_topic(self, topic: str) -> set[int]:
        return self._partitions


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_the_producer_partitions_keys_as_kafka_pythons_default(partitions: int) -> None:
    from kafka.partitioner.default import DefaultPartitioner

    from shared.bus.producer import KeyHashPartitioner

    cluster = _Cluster(partitions)
    ours, theirs = KeyHashPartitioner(), DefaultPartitioner()
    for key in [f"id:C-{n}".encode() for n in range(300)] + [b"", "email:ana@exämple.com".encode()]:
        for _ in range(2):  # the second time from the remembered hash
            assert ours.partition("t", None, key, None, None, cluster) == \
                theirs.partition("t", None, key, None, None, cluster)
    assert ours.partition("t", None, None, None, None, cluster) in range(partitions)
