"""Ingest benchmark: sustained webhooks/s and p99 response time of ``POST /v1/feedback``, next to a bare
FastAPI endpoint that only parses the same JSON, measured in the same run on the same machine.

Starts its own bundled broker, the ingest service (``listening-path serve ingest``: SQLite in a temp dir, or a
fresh database made on the PostgreSQL server of DATABASE_URL and dropped afterwards) and the bare app, each with
``--workers`` uvicorn worker processes (ingest's ``LP_INGEST_WORKERS``; one ingest process leads and also runs the
outbox relay), then drives each with the same asyncio HTTP/1.1 keep-alive client for a fixed time:

* single items (every request a new item, as webhooks arrive) and batches of 100 items;
* streamed CSV and JSONL imports of ``--import-rows`` rows each (``listening-path import``'s code path), with
  peak memory.

Every item ingest answers 202 for is committed to the raw store and outbox before the answer; the relay
publishes concurrently. For each measurement it prints how many of the accepted items the relay published to the
broker within it (what a sustained load can keep up with: the rest waits in the outbox), how long the outbox
took to drain afterwards, and the warnings ingest logged. Usage::

    python bench/ingest.py                      # 10 s per measurement, 64 connections, 2 workers
    python bench/ingest.py --seconds 20 --concurrency 128 --workers 1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from typing import Annotated  # noqa: E402

import httpx  # noqa: E402
from fastapi import Body, FastAPI  # noqa: E402
from sqlalchemy import create_engine, make_url, text  # noqa: E402

from bench._pipeline import KEY, TEXTS  # noqa: E402
from services.ingest.feedback.endpoints import FeedbackBody  # noqa: E402
from services.ingest.settings import IngestSettings  # noqa: E402
from shared.bus import EmbeddedBroker, free_port  # noqa: E402
from shared.process import stop_process  # noqa: E402


def bare_app() -> FastAPI:
    """A FastAPI app whose one endpoint parses the same JSON body as ``POST /v1/feedback`` and does nothing else."""
    app = FastAPI()

    @app.post("/v1/feedback", status_code=202)
    def parse_only(payload: Annotated[FeedbackBody, Body()]) -> dict[str, str]:
        return {"status": "parsed"}

    return app


def _item(run: str, n: int) -> dict[str, object]:
    return {"provider": "bench", "source": "survey", "external_id": f"{run}-{n}", "text": TEXTS[n % len(TEXTS)],
            "customer": {"id": f"B-{n % 500}", "email": f"user{n % 500}@example.com"}, "scores": {"nps": n % 11},
            "occurred_at": "2026-11-02T14:05:00Z", "metadata": {"form_id": "onboarding-csat"}}


@dataclass
class Result:
    """One measurement."""

    label: str
    seconds: float
    requests: int = 0
    items: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    """CPU time (user + system) the server's processes used during the measurement."""
    published: int | None = None
    """Outbox rows the relay published during the measurement (ingest only)."""
    reconnections: int = 0
    """Connections the server ended (``Connection: close``: a busier worker process rebalancing) and the client
    opened again."""

    def cpu_us_per_item(self) -> float:
        return self.cpu_s / self.items * 1e6 if self.items else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] * 1000 if ordered else 0.0


def _tree_cpu_s(root: int) -> float:
    """CPU seconds used so far by a process and its descendants (Linux /proc; uvicorn workers are children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    wanted, total = {root}, 0.0
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        total += stats.get(pid, (0, 0.0))[1]
    return total


async def _drive(port: int, *, batch: int, seconds: float, concurrency: int, label: str) -> Result:
    """Keep ``concurrency`` connections busy for ``seconds``; every request carries new items."""
    run = uuid.uuid4().hex[:10]
    counter = iter(range(10**12))
    result = Result(label, seconds)
    deadline = time.perf_counter() + seconds

    def request() -> bytes:
        start = next(counter) * batch
        doc: object = _item(run, start) if batch == 1 else {"items": [_item(run, start + i) for i in range(batch)]}
        body = json.dumps(doc).encode()
        return (f"POST /v1/feedback HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {KEY}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < deadline:
                payload = request()
                t0 = time.perf_counter()
                writer.write(payload)
                head = await reader.readuntil(b"\r\n\r\n")
                length, close = 0, False
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                    close = close or line.lower().replace(b" ", b"") == b"connection:close"
                if length:
                    await reader.readexactly(length)
                elapsed = time.perf_counter() - t0
                if close:  # the server ends this connection (a busier worker rebalancing): open a new one
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    result.reconnections += 1
                status = int(head[9:12])
                result.requests += 1
                result.latencies.append(elapsed)
                if 200 <= status < 300:
                    result.items += batch
                else:
                    result.errors += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return result


def _wait_ready(url: str, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


@contextmanager
def _scratch_database(url: str | None) -> Iterator[str | None]:
    """A fresh PostgreSQL database on the server of ``url`` for this run, dropped afterwards (so runs neither see
    nor leave each other's rows); None for SQLite (the run's temp dir holds its file)."""
    if not url or not url.startswith("postgres"):
        yield None
        return
    name = f"lp_bench_ingest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _outbox_counts(database_url: str) -> tuple[int, int]:
    """(rows published, rows waiting) in ingest's outbox, read from the database."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            published, waiting = conn.execute(text(
                "SELECT count(published_at), count(*) - count(published_at) FROM outbox")).one()
            return int(published), int(waiting)
    finally:
        engine.dispose()


def _bench_import(rows: int, tmp: Path, env: dict[str, str], fmt: str = "csv") -> tuple[float, float, int]:
    """(rows/s, seconds, peak RSS in MiB of the importing process) for a streamed CSV or JSONL import."""
    path = tmp / f"export.{fmt}"
    with open(path, "w", encoding="utf-8") as f:
        if fmt == "csv":
            f.write("id,comment,nps,email,submitted\n")
        for n in range(rows):
            if fmt == "csv":
                f.write(f"imp-{n},\"{TEXTS[n % len(TEXTS)]}\",{n % 11},user{n % 500}@example.com,"
                        "2026-11-02T14:05:00Z\n")
            else:
                f.write(json.dumps({"id": f"jl-{n}", "comment": TEXTS[n % len(TEXTS)], "nps": n % 11,
                                    "email": f"user{n % 500}@example.com", "submitted": "2026-11-02T14:05:00Z"}) + "\n")
    code = (
        "import resource, sys, time\n"
        "from pathlib import Path\n"
        "from services.ingest.database import ingest_sessions\n"
        "from services.ingest.imports.mapping import load_mapping\n"
        "from services.ingest.imports.service import run_import\n"
        "from services.ingest.settings import IngestSettings\n"
        "mapping = load_mapping(flags=['external_id=id', 'text=comment', 'scores.nps=nps', 'customer.email=email',"
        " 'occurred_at=submitted'], defaults={'provider': 'bench-import', 'source': 'survey'})\n"
        "with ingest_sessions(IngestSettings()) as sessions:\n"
        "    t0 = time.perf_counter()\n"
        "    s = run_import(Path(sys.argv[1]), sessions=sessions, mapping=mapping, batch_size=2000)\n"
        "    elapsed = time.perf_counter() - t0\n"
        "print(s.accepted, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True)
    accepted, elapsed, rss = out.stdout.split()[-3:]
    return int(accepted) / float(elapsed), float(elapsed), int(rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    parser.add_argument("--concurrency", type=int, default=64, help="open connections")
    parser.add_argument("--import-rows", type=int, default=200_000)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes of ingest and of the bare app")
    parser.add_argument("--serve-bare", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        import uvicorn

        uvicorn.run("ingest:bare_app", factory=True, app_dir=str(Path(__file__).parent), host="127.0.0.1",
                    port=args.serve_bare, log_level="warning", access_log=False, workers=args.workers)
        return

    with (tempfile.TemporaryDirectory() as tmp, EmbeddedBroker() as broker,
          _scratch_database(os.environ.get("DATABASE_URL")) as scratch):
        ingest_port, bare_port = free_port(), free_port()
        env = {**os.environ, **({"DATABASE_URL": scratch} if scratch else {}),
               "PYTHONPATH": str(ROOT), "LP_KAFKA_BOOTSTRAP": broker.bootstrap, "LP_API_KEY": KEY,
               "LP_DATA_DIR": tmp, "LP_LOG_LEVEL": "WARNING", "LP_PORT": str(ingest_port),
               "LP_MAX_BATCH_ITEMS": "1000", "LP_KAFKA_PARTITIONS": "3", "LP_INGEST_WORKERS": str(args.workers)}
        log = open(Path(tmp) / "ingest.log", "wb")
        ingest = subprocess.Popen([sys.executable, "-m", "services.cli.main", "serve", "ingest"], env=env, cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT)
        bare = subprocess.Popen([sys.executable, __file__, "--serve-bare", str(bare_port), "--workers",
                                 str(args.workers)], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            try:
                _wait_ready(f"http://127.0.0.1:{ingest_port}/readyz")
            except SystemExit:
                log.flush()
                print((Path(tmp) / "ingest.log").read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            _wait_ready(f"http://127.0.0.1:{bare_port}/docs")
            database = (os.environ.get("DATABASE_URL") or "sqlite").split(":")[0]
            print(f"ingest on :{ingest_port} ({database}), bare FastAPI on :{bare_port}, broker {broker.bootstrap}; "
                  f"{args.workers} worker process(es) each, {args.concurrency} connections, {args.seconds:.0f} s per "
                  f"measurement, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
            for port in (bare_port, ingest_port):  # warm up both
                asyncio.run(_drive(port, batch=1, seconds=2, concurrency=8, label="warm-up"))
            database_url = scratch or IngestSettings(data_dir=Path(tmp)).database_url_for("ingest")
            results = []
            for batch in (1, 100):
                for label, port, process in (("bare FastAPI (parse only)", bare_port, bare),
                                             ("ingest POST /v1/feedback", ingest_port, ingest)):
                    published_before = _outbox_counts(database_url)[0] if process is ingest else 0
                    cpu_before = _tree_cpu_s(process.pid)
                    result = asyncio.run(_drive(port, batch=batch, seconds=args.seconds,
                                                concurrency=args.concurrency, label=f"{label}, batch {batch}"))
                    result.cpu_s = _tree_cpu_s(process.pid) - cpu_before
                    if process is ingest:
                        result.published = _outbox_counts(database_url)[0] - published_before
                    results.append(result)
            drain_start = time.perf_counter()
            backlog = _outbox_counts(database_url)[1]
            while backlog > 0 and time.perf_counter() - drain_start < 600:
                time.sleep(0.5)
                backlog = _outbox_counts(database_url)[1]
            drained = time.perf_counter() - drain_start
            import_env = {k: v for k, v in env.items() if k != "LP_PORT"}
            imports = {fmt: _bench_import(args.import_rows, Path(tmp), import_env, fmt) for fmt in ("csv", "jsonl")}
        finally:
            stop_process(ingest, timeout_s=20)
            stop_process(bare, timeout_s=10)
            log.close()
            logged = (Path(tmp) / "ingest.log").read_text(errors="replace").splitlines()  # LP_LOG_LEVEL=WARNING

    print()
    print(f"{'measurement':<42} {'req/s':>9} {'items/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8} "
          f"{'CPU us/item':>12}")
    for r in results:
        print(f"{r.label:<42} {r.requests / r.seconds:9.0f} {r.items / r.seconds:10.0f} {r.pct(50):8.1f} "
              f"{r.pct(99):8.1f} {r.errors:8d} {r.cpu_us_per_item():12.0f}")
    single_bare, single_ingest, batch_bare, batch_ingest = results
    print()
    print(f"single items: ingest {single_ingest.items / single_ingest.seconds:.0f} webhooks/s = "
          f"{single_ingest.requests / max(single_bare.requests, 1):.0%} of the bare endpoint "
          f"({single_bare.requests / single_bare.seconds:.0f}/s); p99 {single_ingest.pct(99):.1f} ms")
    print(f"batches of 100: ingest {batch_ingest.items / batch_ingest.seconds:.0f} items/s "
          f"(bare: {batch_bare.items / batch_bare.seconds:.0f} items/s); p99 {batch_ingest.pct(99):.1f} ms")
    cores = os.cpu_count() or 1
    print(f"CPU per item, all server processes (ingest: HTTP, validation, commit and the outbox relay publishing "
          f"concurrently): single {single_ingest.cpu_us_per_item():.0f} us (bare {single_bare.cpu_us_per_item():.0f}),"
          f" batched {batch_ingest.cpu_us_per_item():.0f} us (bare {batch_bare.cpu_us_per_item():.0f}); "
          f"on {cores} dedicated cores that is at most {cores * 1e6 / max(batch_ingest.cpu_us_per_item(), 1):.0f} "
          f"batched items/s (bare {cores * 1e6 / max(batch_bare.cpu_us_per_item(), 1):.0f})")
    for r in (single_ingest, batch_ingest):
        print(f"{r.label}: the relay published {(r.published or 0) / r.seconds:.0f} items/s to the broker during the "
              f"measurement ({r.published} of the {r.items} accepted); connections the server ended to rebalance "
              f"its worker processes: {r.reconnections}")
    print(f"outbox drained {drained:.1f} s after the last request (backlog now {backlog:.0f})")
    print(f"warnings and errors ingest logged: {len(logged)}" + "".join(f"\n  {line[:300]}" for line in logged[:5]))
    for fmt, (import_rate, import_s, import_rss) in imports.items():
        print(f"{fmt.upper()} import of {args.import_rows} rows: {import_s:.1f} s ({import_rate:.0f} rows/s), "
              f"peak RSS {import_rss} MiB")
    _ = resource  # the importer measures its own peak memory


if __name__ == "__main__":
    main()
