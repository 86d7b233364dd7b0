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


@pytest.mark.parametrize("partitions", [1, 3, 7])
def test_the_producer_places_keys_as_kafka_clients_do(broker: EmbeddedBroker, partitions: int) -> None:
    """murmur2 of the key, as the Java client and kafka-python's default partitioner: a customer's events stay on the
    partition they always went to, whichever client published them before."""
    from kafka.partitioner.default import murmur2

    name = f"t.keys.{partitions}"
    ensure_topics(broker.bootstrap, [name], partitions=partitions)
    keys = [f"id:C-{n}" for n in range(120)] + ["", "email:ana@exämple.com"]
    producer = EventProducer(broker.bootstrap, client_id="test-keys")
    try:
        deliveries = producer.deliver([OutgoingMessage(name, key, _event(n)) for n, key in enumerate(keys)])
    finally:
        producer.close()
    assert [d.partition for d in deliveries] == \
        [(murmur2(key.encode()) & 0x7FFFFFFF) % partitions for key in keys]
    by_partition: dict[int, list[int]] = {}
    for d in deliveries:
        by_partition.setdefault(d.partition, []).append(d.offset)
    assert all(offsets == list(range(len(offsets))) for offsets in by_partition.values()), by_partition


def test_a_publish_the_broker_cannot_take_fails_within_its_timeout() -> None:
    """No broker: the publish raises (a retriable KafkaError the relay and consumers retry), it does not hang."""
    from kafka.errors import KafkaError

    from shared.bus import free_port

    producer = EventProducer(f"127.0.0.1:{free_port()}", client_id="test-absent", timeout_ms=1_000)
    with pytest.raises(KafkaError, match=r"did not answer|not published"):
        producer.deliver([OutgoingMessage("t.absent", "k", _event(1))], timeout_s=5)
    producer.close(timeout_s=1)
