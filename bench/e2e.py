"""End-to-end benchmark: N feedback items posted to ingest, timed until all are visible in reporting.

Starts its own embedded stack (bundled broker, SQLite in a temp dir, or the
database in DATABASE_URL) and prints:

* throughput: items/s from the first POST until the last item is visible in reporting;
* end-to-end latency per item: stored in the story (journey) minus accepted by ingest, p50/p90/p99/max;
* the ingest POST latency p50/p99;
* baseline, same run: the bare broker round trip (kafka-python produce with acks=all, consume in a group)
  for the same number of messages of the same size, which is the floor any pipeline over Kafka pays.

    python bench/e2e.py --items 1000 --batch 1 --concurrency 8
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx
from kafka import KafkaConsumer

ROOT = Path(__file__).resolve().parents[1]
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


def run(items: int, batch: int, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker:
        settings = ServiceSettings(data_dir=Path(tmp))
        upgrade_schemas(settings)
        env = child_env({"LP_KAFKA_BOOTSTRAP": broker.bootstrap, "LP_API_KEY": KEY, "LP_DATA_DIR": tmp,
                         "LP_LOG_LEVEL": "WARNING"})
        ports = {name: free_port() for name in SERVICES}
        print(f"starting the stack (database: {settings.database_url_for('journey').split('://')[0]}) ...")
        with Stack(env=env, ports=ports, log_dir=Path(tmp) / "logs") as stack:
            headers = {"X-API-Key": KEY}
            run_id = uuid.uuid4().hex[:8]
            docs = [
                {"provider": "bench", "source": "survey", "external_id": f"{run_id}-{i}",
                 "text": TEXTS[i % len(TEXTS)], "customer": {"id": f"B-{i % 200}"}, "scores": {"nps": i % 11}}
                for i in range(items)
            ]
            chunks = [docs[i:i + batch] for i in range(0, items, batch)]
            post_latency: list[float] = []
            ingest = f"{stack['ingest'].url}/v1/feedback"
            client = httpx.Client(headers=headers, timeout=30, limits=httpx.Limits(max_connections=concurrency))

            def send(chunk: list[dict[str, object]]) -> None:
                body: object = chunk[0] if batch == 1 else {"items": chunk}
                t0 = time.perf_counter()
                response = client.post(ingest, json=body)
                post_latency.append(time.perf_counter() - t0)
                response.raise_for_status()

            start = time.perf_counter()
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(send, chunks))
            posted = time.perf_counter() - start

            reporting = f"{stack['reporting'].url}/v1/feedback"
            latencies: dict[str, float] = {}
            deadline = time.monotonic() + 600
            while len(latencies) < items and time.monotonic() < deadline:
                cursor: str | None = None
                while True:
                    params: dict[str, object] = {"limit": 200}
                    if cursor:
                        params["cursor"] = cursor
                    page = client.get(reporting, params=params).json()
                    for it in page["items"]:
                        if it["provider"] == "bench" and it["id"] not in latencies:
                            stored = datetime.fromisoformat(it["stored_at"])
                            received = datetime.fromisoformat(it["received_at"])
                            latencies[it["id"]] = (stored - received).total_seconds()
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
                if len(latencies) < items:
                    time.sleep(0.2)
            total = time.perf_counter() - start
            client.close()

        base_rate, base_s = broker_baseline(broker.bootstrap, items, 1200)
    e2e = list(latencies.values())
    print()
    print(f"items: {items}  batch: {batch}  concurrency: {concurrency}  visible: {len(latencies)}/{items}")
    print(f"ingest accepted all in     {posted:8.2f} s   ({items / posted:8.1f} items/s)")
    print(f"POST latency               p50 {pct(post_latency, 50) * 1000:7.1f} ms   "
          f"p99 {pct(post_latency, 99) * 1000:7.1f} ms")
    print(f"end to end, all visible in {total:8.2f} s   ({len(latencies) / total:8.1f} items/s)")
    if e2e:
        print(f"end-to-end latency         p50 {pct(e2e, 50) * 1000:7.0f} ms   p90 {pct(e2e, 90) * 1000:7.0f} ms   "
              f"p99 {pct(e2e, 99) * 1000:7.0f} ms   max {max(e2e) * 1000:7.0f} ms")
        print(f"                           mean {statistics.mean(e2e) * 1000:6.0f} ms")
    print(f"baseline: bare broker round trip of {items} x 1.2 kB: {base_s:6.2f} s ({base_rate:8.1f} msg/s)")
    if len(latencies) < items:
        raise SystemExit(f"only {len(latencies)} of {items} items became visible")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--batch", type=int, default=1, help="items per POST (1 = single-item webhooks)")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    run(args.items, args.batch, args.concurrency)


if __name__ == "__main__":
    main()
