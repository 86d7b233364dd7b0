"""Load bench: drive the whole pipeline at a rising rate until end-to-end latency or errors break a threshold.

Starts its own pipeline (bundled broker, the four services as processes, SQLite in a temp dir or the
database in DATABASE_URL), then offers single-item webhooks (``POST /v1/feedback``) open-loop at each
step's rate for ``--step-s`` seconds, and prints per step:

* offered rate and achieved ingest rate (2xx answers per second of the step);
* end-to-end latency p50/p99: accepted by ingest (``received_at``) → stored in journey's store
  (``stored_at``), which is what reporting serves; an item not there ``--drain-s`` after its step ended
  counts as infinitely late;
* errors (non-2xx or no answer);
* lag per stage, read from the broker and the database as an operator would see it: ingest's outbox
  backlog, and the ``lp-nlp`` and ``lp-journey`` consumer groups' committed offsets against the end of
  their topics (max during the step / at its end).

It stops at the first step whose p99 is over ``--p99-s`` (default 10 s), whose errors are over 1 %, or
whose achieved rate is under 90 % of the offered, and prints the sustainable rate (the last step that
held), its p50/p99, the first bottleneck (the stage whose backlog first rose over 2 s of work and stayed
there until its step ended), and a same-run baseline: the bare broker's round trip for as many messages.

    python bench/load.py            # steps 25, 50, 100, 200, 400, 800 items/s, 25 s each
    python bench/load.py --quick    # steps 10, 20, 40 items/s, 8 s each
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._pipeline import KEY, TEXTS, Pipeline, broker_baseline, pct, running_pipeline
from services.ingest.models import OutboxMessage
from services.journey.models import FeedbackItem
from shared.bus.admin import consumer_lag
from shared.contracts import FEEDBACK_ENRICHED, FEEDBACK_RAW

STAGES = ("ingest outbox", "nlp (lp-nlp)", "journey (lp-journey)")


@dataclass
class Step:
    """What one step offered and what came of it."""

    rate: int
    duration_s: float = 0.0
    sent: int = 0
    accepted: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    lag_samples: list[tuple[float, dict[str, int]]] = field(default_factory=list)

    @property
    def achieved(self) -> float:
        return self.accepted / self.duration_s if self.duration_s else 0.0

    @property
    def error_share(self) -> float:
        return self.errors / self.sent if self.sent else 0.0

    def p(self, q: float) -> float:
        return pct(self.latencies, q) if self.latencies else math.inf

    def lag_max(self, stage: str) -> int:
        return max((s[stage] for _, s in self.lag_samples), default=0)

    def lag_end(self, stage: str) -> int:
        return self.lag_samples[-1][1][stage] if self.lag_samples else 0

    def grew(self, stage: str) -> float | None:
        """When (seconds into the step) ``stage``'s backlog rose over 2 s of this step's work for good (it stayed
        over until the step ended), if it did."""
        limit = max(20, 2 * self.rate)
        since = None
        for t, sample in self.lag_samples:
            if sample[stage] <= limit:
                since = None
            elif since is None:
                since = t
        return since


class Lag:
    """Samples each stage's backlog: outbox rows not yet published; messages a group has not committed."""

    def __init__(self, pipeline: Pipeline, ingest_db: Engine) -> None:
        self._bootstrap = pipeline.broker.bootstrap
        self._ingest_db = ingest_db

    def sample(self) -> dict[str, int]:
        with self._ingest_db.connect() as conn:
            outbox = int(conn.scalar(select(func.count()).select_from(OutboxMessage)
                                     .where(OutboxMessage.published_at.is_(None))) or 0)
        return {
            "ingest outbox": outbox,
            "nlp (lp-nlp)": sum(consumer_lag(self._bootstrap, "lp-nlp", (FEEDBACK_RAW,)).values()),
            "journey (lp-journey)": sum(consumer_lag(self._bootstrap, "lp-journey", (FEEDBACK_ENRICHED,)).values()),
        }


def offer(client: httpx.Client, url: str, step: Step, provider: str, run: str, duration_s: float,
          workers: int, lag: Lag) -> None:
    """Post ``step.rate`` items/s open-loop for ``duration_s``, sampling lag every 2 s meanwhile."""
    outcomes: list[Future[int | None]] = []
    stop_sampling = threading.Event()
    began = time.monotonic()

    def sampler() -> None:
        while not stop_sampling.wait(2.0):
            step.lag_samples.append((time.monotonic() - began, lag.sample()))

    def post(i: int) -> int | None:
        doc = {"provider": provider, "source": "survey", "external_id": f"{run}-{i}", "text": TEXTS[i % len(TEXTS)],
               "customer": {"id": f"L-{i % 500}"}, "scores": {"nps": i % 11}}
        try:
            return client.post(url, json=doc).status_code
        except httpx.HTTPError:
            return None

    sampling = threading.Thread(target=sampler, daemon=True)
    sampling.start()
    with ThreadPoolExecutor(workers) as pool:
        total = int(step.rate * duration_s)
        for i in range(total):
            due = began + i / step.rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            outcomes.append(pool.submit(post, i))
        statuses = [f.result() for f in outcomes]
    step.duration_s = time.monotonic() - began
    stop_sampling.set()
    sampling.join()
    step.lag_samples.append((step.duration_s, lag.sample()))
    step.sent = len(statuses)
    step.accepted = sum(1 for s in statuses if s is not None and 200 <= s < 300)
    step.errors = step.sent - step.accepted


def collect_latencies(journey_db: Engine, step: Step, provider: str, drain_s: float) -> None:
    """End-to-end latency of the step's accepted items; those not stored within ``drain_s`` count as inf."""
    deadline = time.monotonic() + drain_s
    rows: list[tuple[object, object]] = []
    while True:
        with journey_db.connect() as conn:
            rows = [(r.received_at, r.stored_at) for r in conn.execute(
                select(FeedbackItem.received_at, FeedbackItem.stored_at).where(FeedbackItem.provider == provider))]
        if len(rows) >= step.accepted or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    seen = [(stored - received).total_seconds() for received, stored in rows]  # type: ignore[operator]
    step.latencies = seen + [math.inf] * max(0, step.accepted - len(seen))


def fmt_s(seconds: float) -> str:
    return "   late" if math.isinf(seconds) else f"{seconds:6.2f}s"


def run(rates: list[int], step_s: float, drain_s: float, p99_limit_s: float, workers: int) -> None:
    print("starting the pipeline (broker + ingest, nlp, journey, reporting) ...", flush=True)
    with running_pipeline({"LP_REPORT_CACHE_S": "0", "LP_RATE_LIMIT": "1000000/minute"}) as pipeline:
        ingest_db = create_engine(pipeline.settings.database_url_for("ingest"))
        journey_db = create_engine(pipeline.settings.database_url_for("journey"))
        lag = Lag(pipeline, ingest_db)
        url = f"{pipeline.stack['ingest'].url}/v1/feedback"
        run_id = uuid.uuid4().hex[:6]
        print(f"database: {pipeline.database}; {step_s:.0f} s per step; thresholds: p99 > {p99_limit_s:.0f} s, "
              f"errors > 1 %, achieved < 90 % of offered\n")
        header = (f"{'offered/s':>9} {'achieved/s':>10} {'p50':>7} {'p99':>7} {'errors':>7}  "
                  + "  ".join(f"{s + ' max/end':>27}" for s in STAGES))
        print(header)
        print("-" * len(header))
        steps: list[Step] = []
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        with httpx.Client(headers={"X-API-Key": KEY}, timeout=30, limits=limits) as client:
            for rate in rates:
                step = Step(rate)
                provider = f"load-{rate}"
                offer(client, url, step, provider, f"{run_id}-{rate}", step_s, workers, lag)
                collect_latencies(journey_db, step, provider, drain_s)
                steps.append(step)
                lags = "  ".join(f"{step.lag_max(s):>13d} / {step.lag_end(s):>11d}" for s in STAGES)
                print(f"{rate:>9d} {step.achieved:>10.1f} {fmt_s(step.p(50))} {fmt_s(step.p(99))} "
                      f"{step.error_share:>7.1%}  {lags}", flush=True)
                if step.p(99) > p99_limit_s or step.error_share > 0.01 or step.achieved < 0.9 * rate:
                    break
        ingest_db.dispose()
        journey_db.dispose()
        baseline_n = min(5000, int(max(s.sent for s in steps)))
        base_rate, _ = broker_baseline(pipeline.broker.bootstrap, baseline_n, 1200)
    summarise(steps, p99_limit_s)
    print(f"baseline, same run: the bare broker round trip (produce acks=all, consume in a group) of {baseline_n} "
          f"x 1.2 kB messages: {base_rate:.0f} msg/s")


def summarise(steps: list[Step], p99_limit_s: float) -> None:
    held = [s for s in steps if s.p(99) <= p99_limit_s and s.error_share <= 0.01 and s.achieved >= 0.9 * s.rate]
    print()
    if held:
        best = held[-1]
        print(f"sustainable rate: {best.rate} items/s (achieved {best.achieved:.1f}/s), "
              f"end-to-end p50 {best.p(50):.2f} s, p99 {best.p(99):.2f} s")
    else:
        print("sustainable rate: below the first step")
    broke = next((s for s in steps if s not in held), None)
    if broke is not None:
        reasons = []
        if broke.p(99) > p99_limit_s:
            reasons.append(f"p99 {fmt_s(broke.p(99)).strip()} > {p99_limit_s:.0f}s")
        if broke.error_share > 0.01:
            reasons.append(f"errors {broke.error_share:.1%}")
        if broke.achieved < 0.9 * broke.rate:
            reasons.append(f"ingest achieved {broke.achieved:.1f}/s of {broke.rate}/s")
        print(f"broke at {broke.rate} items/s: {', '.join(reasons)}")
    else:
        print("no step broke the thresholds; add higher steps (--rates)")
    for step in steps:
        grown = {s: t for s in STAGES if (t := step.grew(s)) is not None}
        if step.achieved < 0.9 * step.rate and not grown:
            print(f"first bottleneck: ingest's HTTP intake (at {step.rate}/s it answered {step.achieved:.1f}/s)")
            return
        if grown:
            first = min(grown, key=lambda s: grown[s])
            print(f"first bottleneck: {first} (at {step.rate} items/s its backlog rose over 2 s of work "
                  f"{grown[first]:.0f} s into the step and stayed; max {step.lag_max(first)})")
            return
    print("first bottleneck: none seen (no stage's backlog stayed over 2 s of work)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="steps 10, 20, 40 items/s, 8 s each")
    parser.add_argument("--rates", type=lambda v: [int(x) for x in v.split(",")], default=None,
                        help="comma-separated items/s per step (default 25,50,100,200,400,800)")
    parser.add_argument("--step-s", type=float, default=None, help="seconds per step (default 25; quick 8)")
    parser.add_argument("--drain-s", type=float, default=None,
                        help="how long after a step its items may still arrive (default 30; quick 15)")
    parser.add_argument("--p99-s", type=float, default=10.0, help="end-to-end p99 threshold in seconds")
    parser.add_argument("--workers", type=int, default=64, help="concurrent client connections")
    args = parser.parse_args()
    rates = args.rates or ([10, 20, 40] if args.quick else [25, 50, 100, 200, 400, 800])
    step_s = args.step_s or (8.0 if args.quick else 25.0)
    drain_s = args.drain_s or (15.0 if args.quick else 30.0)
    run(rates, step_s, drain_s, args.p99_s, args.workers)


if __name__ == "__main__":
    main()
