"""Topic administration: create the topics a service needs if they do not exist."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

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
    """Create each topic that does not exist yet (replication 1 on a single broker, cluster default otherwise)."""
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
                admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=replication)])
                log.info("created topic", extra={"topic": topic, "partitions": partitions})
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
