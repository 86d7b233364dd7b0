"""Print Listening Path's journey alerts as they happen: a minimal consumer for other teams.

It uses a plain Kafka client (kafka-python) and nothing from Listening Path's code: the contract is the
topic `lp.journey.alerts.v1` and its schema (docs/contracts/lp.journey.alerts.v1.json).

    python examples/consume_alerts.py --bootstrap 127.0.0.1:9092 [--group my-team] [--from-beginning]

With `listening-path up`, use the broker address it prints. Each alert is a CloudEvents 1.0 JSON envelope;
`data` holds the alert. Delivery is at-least-once: deduplicate on the envelope's `id` if it matters.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys

from kafka import KafkaConsumer

TOPIC = "lp.journey.alerts.v1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", required=True, help="Kafka bootstrap servers, host:port[,host:port]")
    parser.add_argument("--group", default="alerts-example", help="your consumer group (commits your position)")
    parser.add_argument("--from-beginning", action="store_true", help="start at the oldest alert kept")
    parser.add_argument("--max", type=int, default=0, help="stop after this many alerts (0: run until Ctrl-C)")
    args = parser.parse_args()

    consumer = KafkaConsumer(
        TOPIC,
        bootstrap_servers=args.bootstrap.split(","),
        group_id=args.group,
        auto_offset_reset="earliest" if args.from_beginning else "latest",
        enable_auto_commit=True,
        # The bundled broker makes a joining member wait a whole rebalance timeout: keep it short.
        max_poll_interval_ms=10_000,
        session_timeout_ms=10_000,
    )
    running = True

    def stop(_signum: int, _frame: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    seen = 0
    try:
        while running:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    alert = json.loads(record.value)["data"]
                    print(f"[{alert['severity']}] {alert['occurred_at'][:10]} {alert['kind']}: {alert['title']}",
                          flush=True)
                    seen += 1
                    if args.max and seen >= args.max:
                        return 0
    finally:
        consumer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
