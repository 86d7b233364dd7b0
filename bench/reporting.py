"""Reporting benchmark: latency of the overview, stage and search endpoints under concurrent load.

Fills a story store with N feedback items (default 1,000,000) and their rollups, starts the reporting
service as its own process (`listening-path serve reporting`), then for each endpoint runs C concurrent
clients for D seconds and prints requests/s and p50/p99 latency. Baseline in the same run: `/healthz`,
which does no work, under the same load (the HTTP floor on this machine).

    python bench/reporting.py [--items 1000000] [--concurrency 8] [--seconds 10] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from journey import fill  # noqa: E402  (bench/journey.py: bulk-loads items and their rollup rows)

from services.catalog import SERVICES  # noqa: E402
from services.cli.migrate import upgrade_schemas  # noqa: E402
from services.cli.stack import ServiceProcess, child_env  # noqa: E402
from shared.bus import free_port  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402

KEY = "bench-reporting-key-0123456789abcdef"
ENDPOINTS = {
    "healthz (baseline)": ("/healthz", {}),
    "overview": ("/v1/overview", {"since": "2026-06-01", "until": "2026-06-28"}),
    "stages": ("/v1/stages", {"since": "2026-06-01", "until": "2026-06-28"}),
    "search": ("/v1/feedback", {"q": "invoice total", "stage": "renew", "since": "2026-06-01",
                                "until": "2026-06-28", "limit": 50}),
    "search, all time": ("/v1/feedback", {"q": "invoice total", "limit": 50}),
}


def load(url: str, params: dict[str, object], concurrency: int, seconds: float) -> tuple[float, list[float], int]:
    """(requests/s, latencies in ms, errors) for ``concurrency`` clients hammering one URL."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        with httpx.Client(headers={"X-API-Key": KEY}, timeout=30) as http:
            while time.monotonic() < deadline:
                t0 = time.perf_counter()
                response = http.get(url, params=params)  # type: ignore[arg-type]
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    latencies.append(elapsed)
                    errors += response.status_code != 200

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - started), latencies, errors


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = ServiceSettings(data_dir=Path(tmp), database_url=args.database_url)
        upgrade_schemas(settings, ["journey", "reporting"])
        url = settings.database_url_for("journey")
        started = time.perf_counter()
        for upto in range(200_000, args.items + 200_000, 200_000):  # in steps, to bound memory
            fill(url, min(upto, args.items), upto - 200_000, random.Random(upto))
        print(f"stored {args.items:,} items in {time.perf_counter() - started:.0f} s ({url.split(':')[0]})")
        for label, cache_s in (("report cache off: every request computes", "0"),
                               ("report cache on (LP_REPORT_CACHE_S=10, the default)", "10")):
            env = child_env({"LP_API_KEY": KEY, "LP_DATA_DIR": tmp, "LP_LOG_LEVEL": "WARNING",
                             "LP_RATE_LIMIT": "1000000/minute", "LP_REPORT_CACHE_S": cache_s,
                             **({"DATABASE_URL": args.database_url} if args.database_url else {})})
            proc = ServiceProcess(SERVICES["reporting"], env=env, port=free_port(),
                                  log_file=Path(tmp) / "reporting.log")
            proc.start()
            try:
                proc.wait_ready()
                print(f"\n{label}; {args.concurrency} concurrent clients, {args.seconds:.0f} s per endpoint")
                print(f"{'endpoint':<20} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}")
                for name, (path, params) in ENDPOINTS.items():
                    load(proc.url + path, params, 2, 1.0)  # warm up
                    rate, latencies, errors = load(proc.url + path, params, args.concurrency, args.seconds)
                    print(f"{name:<20} {rate:>8.1f} {statistics.median(latencies):>9.1f} "
                          f"{pct(latencies, 99):>9.1f} {errors:>7}")
            finally:
                proc.stop()


if __name__ == "__main__":
    main()
