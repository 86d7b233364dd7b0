"""Reporting benchmark: latency of the overview, stage and search endpoints under concurrent load.

Fills a story store with N feedback items (default 1,000,000), their rollup rows (with the example voices
journey keeps), the full-text index (kept by the store itself: triggers on SQLite, a generated column on
PostgreSQL) and customers with CRM events and state changes (one per 20 items), starts the reporting service
as its own process (`listening-path serve reporting`), then for each endpoint runs C concurrent clients for
D seconds and prints requests/s, p50/p99 latency and how the clients' connections were spread over the worker
processes halfway through (from `ss`: an uneven split queues one process's requests behind more others) — with
the report cache off (every request computes)
and on (the default 10 s). Each endpoint is measured on one hot URL and, for the "varied" rows, over a set of
URLs a dashboard would ask for (30 periods of 7, 28 and 90 days in four time zones; 24 searches of six terms with
and without stage, period and sort), taken in turn. Baseline in the same run: `/healthz`, which does no work,
under the same load (the HTTP floor on this machine); and with `--baseline-code DIR` (a checkout of an earlier
commit, e.g. made with `git worktree add DIR COMMIT`), that code's reporting service on the same data.

Seeding 1M items takes minutes: `--data-dir DIR` (SQLite) or `--database-url URL` (PostgreSQL) keep the store,
and a later run with the same option and `--items` reuses it instead of seeding again.

    python bench/reporting.py [--items 1000000] [--concurrency 8] [--seconds 10] [--workers 2]
                              [--data-dir DIR | --database-url URL] [--baseline-code DIR] [--cache off,on]
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, insert, select, text

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from journey import DAYS, PHRASES, STAGES, START, stored_row  # noqa: E402  (bench/journey.py: the item shape)

from services.catalog import SERVICES  # noqa: E402
from services.cli.migrate import upgrade_schemas  # noqa: E402
from services.cli.stack import ServiceProcess, child_env  # noqa: E402
from services.journey.customers.ledger import backfill as backfill_asset_ledger  # noqa: E402
from services.journey.metrics import SENTIMENT_SCALE  # noqa: E402
from services.journey.models import (  # noqa: E402
    Customer,
    CustomerEventRecord,
    FeedbackItem,
    StageDay,
    StageDayPhrase,
    StageQuarter,
    StageQuarterPhrase,
    StateChange,
    utc_quarter,
)
from shared.bus import free_port  # noqa: E402
from shared.db import create_db_engine  # noqa: E402
from shared.settings import ServiceSettings  # noqa: E402

KEY = "bench-reporting-key-0123456789abcdef"
PERIOD: dict[str, object] = {"since": "2026-06-01", "until": "2026-06-28"}
Params = dict[str, object]
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo")
"""Whole-hour offsets; Asia/Kolkata (+05:30) is measured on its own: it still reads voices at the edges."""


def _periods() -> list[Params]:
    """What a dashboard asks for: 7, 28 and 90 days ending on various days, in several time zones."""
    out: list[Params] = []
    for i, until in enumerate(date(2026, 3, 1) + timedelta(days=23 * k) for k in range(10)):
        for days in (7, 28, 90):
            out.append({"since": (until - timedelta(days=days - 1)).isoformat(), "until": until.isoformat(),
                        "tz": ZONES[(i + days) % len(ZONES)]})
    return out


VARIED = _periods()
SEARCH_TERMS = ("invoice total", "sso setup", "price increase", "slow support", "api limit", "export csv")
VARIED_SEARCH: list[Params] = [
    {"q": q, "limit": 50, **({"stage": STAGES[i % len(STAGES)]} if i % 2 else {}),
     **(VARIED[i * 7 % len(VARIED)] if i % 3 else {}), **({"sort": "newest"} if i % 4 == 3 else {})}
    for i, q in enumerate(SEARCH_TERMS * 4)]
ENDPOINTS: dict[str, tuple[str, list[Params]]] = {
    "healthz (baseline)": ("/healthz", [{}]),
    "overview": ("/v1/overview", [PERIOD]),
    "overview, Paris days": ("/v1/overview", [{**PERIOD, "tz": "Europe/Paris"}]),
    "overview, latest": ("/v1/overview", [{}]),  # the default: the 28 days up to the newest day with data
    "overview, varied": ("/v1/overview", VARIED),
    "overview, Kolkata": ("/v1/overview", [{**PERIOD, "tz": "Asia/Kolkata"}]),
    "stages": ("/v1/stages", [PERIOD]),
    "stages, Paris days": ("/v1/stages", [{**PERIOD, "tz": "Europe/Paris"}]),
    "stages, varied": ("/v1/stages", VARIED),
    "stages, Kolkata": ("/v1/stages", [{**PERIOD, "tz": "Asia/Kolkata"}]),
    "search": ("/v1/feedback", [{"q": "invoice total", "stage": "renew", **PERIOD, "limit": 50}]),
    "search, newest": ("/v1/feedback", [{"q": "invoice total", "stage": "renew", **PERIOD, "limit": 50,
                                         "sort": "newest"}]),
    "search, all time": ("/v1/feedback", [{"q": "invoice total", "limit": 50}]),
    "search, all, newest": ("/v1/feedback", [{"q": "invoice total", "limit": 50, "sort": "newest"}]),
    "search, negative": ("/v1/feedback", [{"q": "invoice total", "sentiment": "negative", "limit": 50}]),
    "search, one match": ("/v1/feedback", [{"q": "voice 123457", "limit": 50}]),
    "search, varied": ("/v1/feedback", VARIED_SEARCH),
}
LABELS = ("negative", "neutral", "positive")
ITEMS_PER_CUSTOMER = 20


def connection_split(port: int) -> str:
    """How the established connections to ``port`` are spread over the server's processes, most first ("5/3"), from
    ``ss -tnp``; "?" where ``ss`` is missing or shows no process."""
    try:
        out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{port} )"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    per_process = Counter(re.findall(r"pid=(\d+)", out))
    return "/".join(str(n) for n in sorted(per_process.values(), reverse=True)) or "?"


def load(url: str, variants: list[Params], concurrency: int, seconds: float, *, port: int | None = None
         ) -> tuple[float, list[float], int, str]:
    """(requests/s, latencies in ms, errors, connection split) for ``concurrency`` clients asking for ``url`` with
    each of the ``variants`` of query parameters in turn (one variant: one hot URL). The split (``connection_split``
    of ``port``) is taken halfway through."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    turn = itertools.count()

    def client() -> None:
        nonlocal errors
        with httpx.Client(headers={"X-API-Key": KEY}, timeout=60) as http:
            while time.monotonic() < deadline:
                with lock:
                    params = variants[next(turn) % len(variants)]
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
    split = "?"
    if port is not None:
        time.sleep(seconds / 2)
        split = connection_split(port)
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - started), latencies, errors, split


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class _Examples:
    """The example voices journey keeps per rollup row: most negative (score, id) and newest (time, id)."""

    def __init__(self) -> None:
        self.worst: tuple[float, str] | None = None
        self.newest: tuple[datetime, str] | None = None

    def offer(self, fid: str, score: float, at: datetime) -> None:
        self.worst = min(self.worst, (score, fid)) if self.worst else (score, fid)
        self.newest = max(self.newest, (at, fid)) if self.newest else (at, fid)

    def columns(self) -> dict[str, Any]:
        assert self.worst is not None
        assert self.newest is not None
        return {"worst_id": self.worst[1], "worst_score": self.worst[0], "newest_id": self.newest[1],
                "newest_at": self.newest[0]}


def seed(url: str, items: int, rng: random.Random, *, arrival: str = "random") -> None:
    """Items, rollups (with examples), customers, CRM events and state changes into a migrated, empty store.

    ``arrival``: ``random``, items stored in random time order (old exports imported in any order: the rowids of
    a period are spread over the table); ``time``, the same items stored oldest first, as a store fed live
    gets them (a period's rowids lie together)."""
    engine = create_db_engine(url)
    customers = max(1, items // ITEMS_PER_CUSTOMER)
    days: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    day_examples: dict[tuple[date, str], _Examples] = defaultdict(_Examples)
    phrases: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    phrase_examples: dict[tuple[date, str, str], _Examples] = defaultdict(_Examples)
    quarters: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    quarter_phrases: dict[tuple[datetime, str, str], list[int]] = defaultdict(lambda: [0, 0])
    batch: list[dict[str, object]] = []
    in_time_order: list[dict[str, object]] = []
    with engine.begin() as conn:
        for n in range(items):
            when = START + timedelta(seconds=rng.randrange(DAYS * 86400), microseconds=rng.randrange(1_000_000))
            stage = rng.choice(STAGES)
            label = rng.choice(LABELS)
            score = round(rng.uniform(-1, 1), 6)
            ph = rng.sample(PHRASES, 2)
            fid = f"f{n}"
            row = stored_row(fid, text=f"voice {n} about {ph[0]}", stage=stage, label=label, score=score, nps=None,
                             phrases=ph, when=when)
            row["customer_id"] = f"cu_{rng.randrange(customers)}"
            (in_time_order if arrival == "time" else batch).append(row)
            key = (when.date(), stage)
            d = days[key]
            d[0] += 1
            d[LABELS.index(label) + 1] += 1
            d[4] += round(score * SENTIMENT_SCALE)
            day_examples[key].offer(fid, score, when)
            quarter_key = (utc_quarter(when), stage)
            h = quarters[quarter_key]
            h[0] += 1
            h[LABELS.index(label) + 1] += 1
            h[4] += round(score * SENTIMENT_SCALE)
            for p in ph:
                phrases[(*key, p)][0] += 1
                phrases[(*key, p)][1] += label == "negative"
                phrase_examples[(*key, p)].offer(fid, score, when)
                quarter_phrases[(*quarter_key, p)][0] += 1
                quarter_phrases[(*quarter_key, p)][1] += label == "negative"
            if len(batch) >= 5000:
                conn.execute(insert(FeedbackItem), batch)
                batch.clear()
        in_time_order.sort(key=lambda r: r["occurred_at"])  # type: ignore[arg-type,return-value]
        batch += in_time_order
        for i in range(0, len(batch), 5000):
            conn.execute(insert(FeedbackItem), batch[i:i + 5000])
        conn.execute(insert(StageDay), [
            {"day": day, "stage_id": stage, "volume": vol, "negative": neg, "neutral": neu, "positive": pos,
             "sentiment_points": pts, **day_examples[(day, stage)].columns()}
            for (day, stage), (vol, neg, neu, pos, pts) in days.items()])
        conn.execute(insert(StageDayPhrase), [
            {"day": day, "stage_id": stage, "phrase": p, "count": c, "negative": neg,
             **phrase_examples[(day, stage, p)].columns()}
            for (day, stage, p), (c, neg) in phrases.items()])
        for table, data in (
                (StageQuarter, [{"quarter": q, "stage_id": stage, "volume": vol, "negative": neg, "neutral": neu,
                                 "positive": pos, "sentiment_points": pts}
                                for (q, stage), (vol, neg, neu, pos, pts) in quarters.items()]),
                (StageQuarterPhrase, [{"quarter": q, "stage_id": stage, "phrase": p, "count": c, "negative": neg}
                                      for (q, stage, p), (c, neg) in quarter_phrases.items()])):
            for i in range(0, len(data), 5000):
                conn.execute(insert(table), data[i:i + 5000])
        _seed_customers(conn, customers, rng)
        backfill_asset_ledger(conn)  # what journey keeps as customers change: the asset deltas per day and hour
    engine.dispose()


def _seed_customers(conn: Any, customers: int, rng: random.Random) -> None:
    """Customers created over the first months; some become at risk later, some of those are lost."""
    rows: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    changes: list[dict[str, object]] = []
    end = START + timedelta(days=DAYS)
    for c in range(customers):
        created = START + timedelta(seconds=rng.randrange(DAYS // 2 * 86400))
        value = float(rng.choice((1000, 5000, 20000)))
        cid = f"cu_{c}"
        events.append({"event_id": f"ev_{c}", "customer_id": cid, "kind": "created", "provider": "bench",
                       "external_id": f"c{c}", "value": value, "value_delta": value, "segment": None,
                       "occurred_at": created})
        history: list[tuple[datetime, str | None, str]] = [(created, None, "stable")]
        if rng.random() < 0.3:
            risk = created + (end - created) * rng.random()
            history.append((risk, "stable", "at_risk"))
            if rng.random() < 0.3:
                history.append((risk + (end - risk) * rng.random(), "at_risk", "lost"))
        for seq, (at, before, after) in enumerate(history):
            changes.append({"customer_id": cid, "seq": seq, "at": at, "from_state": before, "to_state": after,
                            "value": value, "last_negative_stage": rng.choice(STAGES) if after == "lost" else None})
        state = history[-1][2]
        rows.append({"id": cid, "display_name": f"B-{c}", "merged_into": None, "first_seen_at": created,
                     "last_touch_at": history[-1][0], "segment": rng.choice(("smb", "mid-market", "enterprise")),
                     "value": 0.0 if state == "lost" else value, "currency": "EUR", "owner": None, "state": state,
                     "health": 60, "reasons": [], "nps_latest": None, "nps_category": None, "sentiment_trend": None,
                     "touchpoints": len(history)})
    for table, data in ((Customer, rows), (CustomerEventRecord, events), (StateChange, changes)):
        for i in range(0, len(data), 5000):
            conn.execute(insert(table), data[i:i + 5000])


@contextmanager
def store(args: argparse.Namespace) -> Iterator[tuple[str, str, dict[str, str]]]:
    """(journey URL, data dir, environment for the service) of a seeded store, reused when it has the items."""
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp)
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = ServiceSettings(data_dir=data_dir, database_url=args.database_url)
        upgrade_schemas(settings, ["journey", "reporting"])
        url = settings.database_url_for("journey")
        engine = create_db_engine(url)
        with engine.connect() as conn:
            have = conn.scalar(select(func.count()).select_from(FeedbackItem))
        engine.dispose()
        if have == args.items:
            print(f"reusing the store with {have:,} items ({url.split(':')[0]})")
        elif have:
            raise SystemExit(f"the store holds {have:,} items, not {args.items:,}: use another --data-dir or database")
        else:
            started = time.perf_counter()
            seed(url, args.items, random.Random(args.items), arrival=args.arrival)
            if url.startswith("postgresql"):  # what autovacuum would do soon after a load this size
                analyze = create_db_engine(url, isolation_level="AUTOCOMMIT")
                with analyze.connect() as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE")
                analyze.dispose()
            print(f"stored {args.items:,} items, {args.items // ITEMS_PER_CUSTOMER:,} customers in "
                  f"{time.perf_counter() - started:.0f} s ({url.split(':')[0]})")
        if url.startswith("postgresql"):
            print_sizes(url)
        env = {"LP_DATA_DIR": str(data_dir), **({"DATABASE_URL": args.database_url} if args.database_url else {})}
        yield url, str(data_dir), env


SEARCH_INDEXES = ("ix_feedback_items_search_vector", "ix_feedback_items_search_days")


def print_sizes(url: str) -> None:
    """The feedback table's size on disk (PostgreSQL), and its search indexes' (journey migrations 0003, 0013)."""
    engine = create_db_engine(url)
    with engine.connect() as conn:
        table_mb = conn.scalar(text("SELECT pg_relation_size('feedback_items') / 1048576.0"))
        sizes = {name: conn.scalar(text("SELECT pg_relation_size(to_regclass(:name)) / 1048576.0"), {"name": name})
                 for name in SEARCH_INDEXES}
    engine.dispose()
    shown = ", ".join(f"{name} {mb:.0f} MB" for name, mb in sizes.items() if mb is not None)
    print(f"feedback_items {table_mb:.0f} MB; search indexes: {shown}")


def run_service(label: str, env: dict[str, str], args: argparse.Namespace, log: Path) -> None:
    """Start reporting with ``env`` and measure every endpoint."""
    proc = ServiceProcess(SERVICES["reporting"], env=child_env(env), port=free_port(), log_file=log)
    proc.start()
    try:
        proc.wait_ready()
        print(f"\n{label}; LP_REPORTING_WORKERS={args.workers}, {args.concurrency} concurrent clients, "
              f"{args.seconds:.0f} s per endpoint")
        print(f"{'endpoint':<22} {'req/s':>8} {'p50 ms':>9} {'p99 ms':>9} {'errors':>7}  connections per process")
        for name, (path, variants) in ENDPOINTS.items():
            if args.only and name != "healthz (baseline)" and not any(name.startswith(o)
                                                                    for o in args.only.split(",")):
                continue
            load(proc.url + path, variants[:1], 2, 1.0)  # warm up (varied sets stay mostly cold for the cache)
            rate, latencies, errors, split = load(proc.url + path, variants, args.concurrency, args.seconds,
                                                  port=proc.port)
            print(f"{name:<22} {rate:>8.1f} {statistics.median(latencies):>9.1f} "
                  f"{pct(latencies, 99):>9.1f} {errors:>7}  {split}", flush=True)
    finally:
        proc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (default: SQLite files in --data-dir)")
    parser.add_argument("--data-dir", default=None, help="keep (and reuse) the SQLite store here")
    parser.add_argument("--baseline-code", default=None, help="a checkout of an earlier commit to measure too")
    parser.add_argument("--workers", type=int, default=2,
                        help="reporting's uvicorn worker processes (LP_REPORTING_WORKERS); 2: one per core here")
    parser.add_argument("--cache", default="off,on", help="report cache modes to run: off, on, or both")
    parser.add_argument("--baseline-cache", default="off", help="report cache modes for --baseline-code")
    parser.add_argument("--seed-only", action="store_true", help="fill the store and stop")
    parser.add_argument("--arrival", choices=("random", "time"), default="random",
                        help="order a new store's items are stored in: random times (the default: old exports "
                             "imported in any order), or oldest first (a store fed live); a reused store keeps its own")
    parser.add_argument("--only", default="", help="comma-separated endpoint name prefixes to measure (and healthz)")
    args = parser.parse_args()
    with store(args) as (_url, data_dir, env):
        if args.seed_only:
            return
        base = {"LP_API_KEY": KEY, "LP_LOG_LEVEL": "WARNING", "LP_RATE_LIMIT": "1000000/minute",
                "LP_REPORTING_WORKERS": str(args.workers), **env}
        baseline = (f"baseline code ({args.baseline_code}; code before LP_REPORTING_WORKERS runs one worker, code "
                    "before tz and sort ignores them)")
        codes = [("this code", None, args.cache)] + ([(baseline, args.baseline_code, args.baseline_cache)]
                                                      if args.baseline_code else [])
        for code_label, path, modes in codes:
            # PYTHONSAFEPATH: `python -m` would otherwise put the working directory (this code) first on sys.path.
            extra = {"PYTHONPATH": os.pathsep.join(filter(None, [path, os.environ.get("PYTHONPATH")])),
                     "PYTHONSAFEPATH": "1"} if path else {}
            for mode in filter(None, modes.split(",")):
                cache_s, what = ("0", "report cache off: every request computes") if mode == "off" else (
                    "10", "report cache on (LP_REPORT_CACHE_S=10, the default)")
                run_service(f"{code_label}, {what}", {**base, **extra, "LP_REPORT_CACHE_S": cache_s}, args,
                            Path(data_dir) / "reporting-bench.log")


if __name__ == "__main__":
    main()
