"""What the pipeline benches share: the whole product started on this machine, sample texts, percentiles.

``running_pipeline`` starts the bundled broker and the four services as separate processes (as
``listening-path up`` does) over SQLite files in a temp dir, or the database in ``DATABASE_URL``.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.catalog import SERVICES  # noqa: E402
from services.cli.migrate import upgrade_schemas  # noqa: E402
from services.cli.stack import Stack, child_env  # noqa: E402
from shared.bus import EmbeddedBroker, EventProducer, OutgoingMessage, ensure_topics, free_port  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402

KEY = "bench-key-0123456789abcdef0123456789"
TEXTS = [
    "The onboarding checklist was clear and I was live in an hour.",
    "Support took three days to answer a simple billing question, really frustrating.",
    "Invoice shows the wrong VAT number again, please fix it.",
    "Love the new dashboard, the team uses it every morning.",
    "Setup of the SSO integration failed twice before it worked.",
    "How do I export my reports to CSV?",
]


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def broker_baseline(bootstrap: str, n: int, size: int) -> tuple[float, float]:
    """(messages/s, seconds) for producing n messages with acks=all and consuming them in a group."""
    topic = f"bench.baseline.{uuid.uuid4().hex[:6]}"
    ensure_topics(bootstrap, [topic], partitions=3)
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"bench-{uuid.uuid4().hex[:6]}",
                             auto_offset_reset="earliest", enable_auto_commit=False, max_poll_interval_ms=10000)
    while not consumer.assignment():
        consumer.poll(timeout_ms=200)
    producer = EventProducer(bootstrap, client_id="bench")
    payload = b"x" * size
    got = 0
    start = time.perf_counter()
    done = threading.Event()

    def consume() -> None:
        nonlocal got
        while got < n:
            for records in consumer.poll(timeout_ms=200).values():
                got += len(records)
            consumer.commit()
        done.set()

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    for i in range(0, n, 100):
        producer.publish([OutgoingMessage(topic, str(j), payload) for j in range(i, min(n, i + 100))])
    done.wait(120)
    elapsed = time.perf_counter() - start
    producer.close()
    consumer.close()
    return n / elapsed, elapsed


@dataclass(frozen=True)
class Pipeline:
    """A running pipeline: its broker, its services and where its data lives."""

    broker: EmbeddedBroker
    stack: Stack
    settings: ServiceSettings

    @property
    def database(self) -> str:
        """The database kind, for the printout."""
        return self.settings.database_url_for("journey").split("://")[0].split("+")[0]


@contextmanager
def running_pipeline(extra_env: Mapping[str, str] | None = None) -> Iterator[Pipeline]:
    """Broker, migrated database, and the four services, ready; everything stopped and removed after."""
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker(log_file=Path(tmp) / "broker.log") as broker:
        settings = ServiceSettings(data_dir=Path(tmp))  # DATABASE_URL, when set, wins
        upgrade_schemas(settings)
        env = child_env({"LP_KAFKA_BOOTSTRAP": broker.bootstrap, "LP_API_KEY": KEY, "LP_DATA_DIR": tmp,
                         "LP_LOG_LEVEL": "WARNING", **(extra_env or {})})
        ports = {name: free_port() for name in SERVICES}
        with Stack(env=env, ports=ports, log_dir=Path(tmp) / "logs") as stack:
            yield Pipeline(broker, stack, settings)
