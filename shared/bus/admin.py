"""Topic administration: create the topics a service needs if they do not exist."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Sequence

from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from shared.contracts.topics import SINGLE_PARTITION_TOPICS

log = logging.getLogger(__name__)


def wait_for_broker(bootstrap: str, *, timeout_s: float = 30.0) -> None:
    """Block until the first bootstrap address accepts TCP connections; raise ``TimeoutError`` otherwise."""
    host, _, port = bootstrap.split(",")[0].rpartition(":")
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, int(port)), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Kafka broker at {bootstrap} did not answer in {timeout_s:.0f}s") from None
            time.sleep(0.1)


def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int = 3) -> None:
    """Create each topic that does not exist yet, with ``partitions`` partitions (one for
    ``SINGLE_PARTITION_TOPICS``) and replication 1 on a single broker, up to 3 otherwise.

    Topics are meant to be created here only: our clients set ``allow_auto_create_topics=False``, since a
    broker that invents a topic picks its own partition count. (The bundled broker, tansu 0.6, creates a
    topic on any metadata request whatever the flag; ``EmbeddedBroker`` therefore declares the topics it is
    given each time it starts, before clients come back.)
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="lp-admin")
    try:
        existing = set(admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return
        brokers = len(admin.describe_cluster().get("brokers", [])) or 1
        replication = min(3, brokers)
        for topic in missing:
            try:
                count = 1 if topic in SINGLE_PARTITION_TOPICS else partitions
                admin.create_topics([NewTopic(topic, num_partitions=count, replication_factor=replication)])
                log.info("created topic", extra={"topic": topic, "partitions": count})
            except TopicAlreadyExistsError:
                pass
    except KafkaError:
        log.exception("topic creation failed")
        raise
    finally:
        admin.close()


def broker_reachable(bootstrap: str) -> bool:
    """True when the broker answers a TCP connection within a second."""
    try:
        wait_for_broker(bootstrap, timeout_s=1.0)
    except TimeoutError:
        return False
    return True


def consumer_lag(bootstrap: str, group_id: str, topics: Iterable[str]) -> dict[str, int]:
    """Messages of ``topics`` that ``group_id`` has not committed yet, per ``topic[partition]``.

    Read from the broker (the group's committed offsets against each partition's end), as an operator's
    lag exporter would; a partition the group never committed counts from its start.
    """
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="lp-lag")
    consumer = KafkaConsumer(bootstrap_servers=bootstrap.split(","), enable_auto_commit=False, group_id=None,
                             allow_auto_create_topics=False)
    try:
        committed = admin.list_group_offsets({group_id: None}).get(group_id, {})
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends, begins = end_offsets(consumer, tps), consumer.beginning_offsets(tps)
        lag: dict[str, int] = {}
        for tp in tps:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else begins[tp]
            lag[f"{tp.topic}[{tp.partition}]"] = max(0, ends[tp] - position)
        return lag
    finally:
        consumer.close()
        admin.close()


def end_offsets(consumer: KafkaConsumer, tps: Sequence[TopicPartition], *, timeout_s: float = 5.0
                ) -> dict[TopicPartition, int]:
    """The offset after each partition's last message.

    Asked of the broker, then checked by reading the last batch: the bundled broker (tansu 0.6) answers a
    ListOffsets with the last *batch's* base offset + 1, short of the end when that batch holds several.
    """
    reported: dict[TopicPartition, int] = consumer.end_offsets(list(tps))
    begins: dict[TopicPartition, int] = consumer.beginning_offsets(list(tps))
    ends = dict(reported)
    probe = [tp for tp in tps if reported[tp] > begins[tp]]
    if not probe:
        return ends
    consumer.assign(probe)
    try:
        for tp in probe:
            consumer.seek(tp, reported[tp] - 1)
        waiting = set(probe)
        deadline = time.monotonic() + timeout_s
        while waiting and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200).items():
                if records:
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                    waiting.discard(tp)
                    consumer.pause(tp)
    finally:
        consumer.resume(*probe)
        consumer.unsubscribe()
    return ends
