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
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._pipeline import KEY, TEXTS, broker_baseline, pct, running_pipeline


def run(items: int, batch: int, concurrency: int) -> None:
    print("starting the stack ...")
    with running_pipeline() as pipeline:
        broker, stack = pipeline.broker, pipeline.stack
        print(f"database: {pipeline.database}")
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
