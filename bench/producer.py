"""Producer bench: what publishing costs per message, the project's producer against kafka-python's.

The ingest relay publishes every accepted item, so the Kafka client's CPU per message is part of every item's
cost. ``EventProducer`` (``shared/bus/producer.py``, librdkafka through confluent-kafka) publishes rounds of
``--round`` messages and waits for every acknowledgement, as the relay does. The baseline, in the same run against
the same bundled broker, is kafka-python's ``KafkaProducer`` doing the same rounds (``send`` each message, then
``flush`` and read every future), tuned as the producer was before it moved to librdkafka: ``acks=all``, one
request in flight, 512 kB batches, no client metrics.

Usage::

    python bench/producer.py [--messages 20000] [--round 500] [--size 1200] [--repeat 2]

Prints, for each client, messages/s and the CPU time of this process per message (user + system, every thread,
librdkafka's included; the broker's own CPU is not counted), best of ``--repeat`` runs after a warm-up round.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from kafka import KafkaProducer  # noqa: E402

from shared.bus import EmbeddedBroker, EventProducer, OutgoingMessage  # noqa: E402
from shared.bus.admin import ensure_topics  # noqa: E402

TOPIC = "bench.producer"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _measure(publish: Callable[[Sequence[OutgoingMessage]], None], messages: list[OutgoingMessage], size: int,
             repeat: int) -> tuple[float, float]:
    """(messages/s, CPU us per message), best of ``repeat``."""
    publish(messages[:size])  # warm-up: connections, metadata
    best_rate, best_cpu = 0.0, float("inf")
    for _ in range(repeat):
        started, cpu = time.perf_counter(), _cpu_s()
        for start in range(0, len(messages), size):
            publish(messages[start:start + size])
        elapsed, used = time.perf_counter() - started, _cpu_s() - cpu
        best_rate = max(best_rate, len(messages) / elapsed)
        best_cpu = min(best_cpu, used / len(messages) * 1e6)
    return best_rate, best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--round", type=int, default=500, help="messages per publish call (the relay's batch)")
    parser.add_argument("--size", type=int, default=1200, help="bytes per message (an item's event is ~1.2 kB)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    value = b"x" * args.size
    messages = [OutgoingMessage(TOPIC, f"id:C-{n % 500}", value, headers=(("ce_id", f"{n:032x}".encode()),))
                for n in range(args.messages)]
    with EmbeddedBroker(topics=[TOPIC], partitions=3) as broker:
        ensure_topics(broker.bootstrap, [TOPIC], partitions=3)
        ours = EventProducer(broker.bootstrap, client_id="bench-producer", partitions=3)
        theirs = KafkaProducer(bootstrap_servers=broker.bootstrap.split(","), client_id="bench-kafka-python",
                               acks="all", linger_ms=5, max_in_flight_requests_per_connection=1,
                               enable_idempotence=False, batch_size=512 * 1024, metrics_enabled=False)

        def kafka_python(batch: Sequence[OutgoingMessage]) -> None:
            futures = [theirs.send(m.topic, key=(m.key or "").encode(), value=m.value, headers=list(m.headers))
                       for m in batch]
            theirs.flush(timeout=30)
            for future in futures:
                future.get(timeout=30)

        try:
            results = {
                "kafka-python KafkaProducer (baseline)": _measure(kafka_python, messages, args.round, args.repeat),
                "EventProducer (librdkafka)": _measure(ours.publish, messages, args.round, args.repeat),
            }
        finally:
            theirs.close(timeout=5)
            ours.close(timeout_s=5)

    print(f"{args.messages} messages of {args.size} B in rounds of {args.round}, acks=all, 3 partitions, "
          f"bundled broker; best of {args.repeat}")
    print(f"{'client':40s} {'messages/s':>11s} {'CPU us/message':>15s}")
    for name, (rate, cpu) in results.items():
        print(f"{name:40s} {rate:>11,.0f} {cpu:>15.1f}")


if __name__ == "__main__":
    main()
