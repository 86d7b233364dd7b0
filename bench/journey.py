"""Journey benchmark: events/s into the story store, and how a stage summary's time grows with stored items.

1. Throughput — N enriched voices (plus CRM events for their customers) applied the way the journey consumer
   applies them (batches of 200, one transaction each: identity, items, rollups, customer re-assessment,
   alerts). Baseline in the same run: a bare bulk INSERT of the same items with none of that.
2. Scaling — the stage summary reporting serves (sums of the per-day rollup over 28 days, with top phrases)
   timed with 10k, 100k and 1M stored items, next to the same summary computed by scanning the items table.

Runs on SQLite and on PostgreSQL (DATABASE_URL, default the local server's `test` database; a temporary
database is created and dropped).

    python bench/journey.py [--voices 20000] [--sizes 10000,100000,1000000] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.cli.migrate import upgrade_schemas  # noqa: E402
from services.journey.alerts.service import AlertPolicy  # noqa: E402
from services.journey.metrics import SENTIMENT_SCALE  # noqa: E402
from services.journey.models import FeedbackItem, StageDay, StageDayPhrase  # noqa: E402
from services.journey.settings import DEMO_JOURNEY_MAP  # noqa: E402
from services.journey.story.service import StoryContext, apply_customer_events, apply_enriched  # noqa: E402
from services.reporting.periods import Period  # noqa: E402
from services.reporting.rollup_reads import stage_totals, top_phrases  # noqa: E402
from shared.contracts import (  # noqa: E402
    CloudEvent,
    CustomerEvent,
    CustomerEventKind,
    CustomerRef,
    FeedbackEnriched,
    FeedbackKind,
    FeedbackReceived,
    FeedbackSource,
    JourneyMap,
    Scores,
    SentimentLabel,
    SentimentTag,
    StageMethod,
    StageTag,
)
from shared.db import create_db_engine, make_session_factory, transaction  # noqa: E402
from shared.settings import ServiceSettings, normalise_database_url  # noqa: E402

STAGES = ["discover", "buy", "onboarding", "use", "support", "renew"]
PHRASES = ["invite email", "sso setup", "dashboard load", "invoice total", "api limit", "slow support",
           "data import", "price increase", "great onboarding", "export csv"]
START = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 300


@contextmanager
def database(backend: str, admin_url: str, tmp: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp / f'journey-{uuid.uuid4().hex[:6]}.db'}"
        return
    name = f"lp_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(normalise_database_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(normalise_database_url(admin_url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_voices(n: int, customers: int, rng: random.Random) -> list[CloudEvent[FeedbackEnriched]]:
    out = []
    for i in range(n):
        when = START + timedelta(minutes=i * (DAYS * 1440 // n))
        label = rng.choice(list(SentimentLabel))
        fid = f"fb_{uuid.UUID(int=rng.getrandbits(128)).hex}"
        cid = f"B-{rng.randrange(customers)}"
        received = FeedbackReceived(
            feedback_id=fid, kind=FeedbackKind.AIDED, source=FeedbackSource.SURVEY, provider="bench", external_id=fid,
            text=f"voice {i} about {rng.choice(PHRASES)}", customer=CustomerRef(id=cid),
            scores=Scores(nps=rng.randrange(11) if i % 3 == 0 else None), occurred_at=when, received_at=when)
        data = FeedbackEnriched(
            feedback=received, sentiment=SentimentTag(label=label, score=rng.uniform(-1, 1), confidence=0.9),
            stage=StageTag(id=rng.choice(STAGES), confidence=0.8, method=StageMethod.MODEL), language="en",
            key_phrases=rng.sample(PHRASES, 2), journey_map_version=1, model_version="bench")
        out.append(CloudEvent[FeedbackEnriched](source="/bench", type="t", data=data))
    return out


def make_crm(customers: int, rng: random.Random) -> list[CloudEvent[CustomerEvent]]:
    return [CloudEvent[CustomerEvent](source="/bench", type="t", data=CustomerEvent(
        event_kind=CustomerEventKind.CREATED, provider="bench", external_id=f"c{c}", customer=CustomerRef(id=f"B-{c}"),
        occurred_at=START, value=float(rng.choice([1000, 5000, 20000])))) for c in range(customers)]


def throughput(url: str, voices: list[CloudEvent[FeedbackEnriched]], crm: list[CloudEvent[CustomerEvent]]
               ) -> tuple[float, float]:
    """(projection events/s, bare insert rows/s)."""
    settings = ServiceSettings(database_url=url)
    upgrade_schemas(settings, ["journey"])
    engine = create_db_engine(url)
    sessions = make_session_factory(engine)
    ctx = StoryContext(journey_map=JourneyMap.load(DEMO_JOURNEY_MAP), email_key=b"bench", alerts=AlertPolicy(),
                       publish=True)
    started = time.perf_counter()
    for i in range(0, len(crm), 200):
        with transaction(sessions) as s:
            apply_customer_events(session=s, events=crm[i:i + 200], ctx=ctx)
    for i in range(0, len(voices), 200):
        with transaction(sessions) as s:
            apply_enriched(session=s, events=voices[i:i + 200], ctx=ctx)
    projection = (len(voices) + len(crm)) / (time.perf_counter() - started)
    rows = [item_row(v, f"bare_{n}") for n, v in enumerate(voices)]
    started = time.perf_counter()
    with engine.begin() as conn:
        for i in range(0, len(rows), 200):
            conn.execute(insert(FeedbackItem), rows[i:i + 200])
    bare = len(rows) / (time.perf_counter() - started)
    engine.dispose()
    return projection, bare


def stored_row(fid: str, *, text: str, stage: str | None, label: str, score: float, nps: int | None,
               phrases: list[str], when: datetime) -> dict[str, object]:
    """A feedback_items row as the projection stores it."""
    return {"feedback_id": fid, "event_id": f"e_{fid}", "customer_id": None, "provider": "bench",
            "source": "survey", "kind": "aided", "text": text, "stage_id": stage, "stage_confidence": 0.8,
            "stage_method": "model", "sentiment_label": label, "sentiment_score": score, "sentiment_confidence": 0.9,
            "nps": nps, "csat": None, "ces": None, "rating": None, "language": "en", "key_phrases": phrases,
            "redactions": [], "experiences": [], "extra": {}, "journey_map_version": 1, "model_version": "bench",
            "occurred_at": when, "received_at": when, "stored_at": when}


def item_row(v: CloudEvent[FeedbackEnriched], fid: str) -> dict[str, object]:
    """The row of a generated voice."""
    fb = v.data.feedback
    return stored_row(fid, text=fb.text, stage=v.data.stage.id, label=v.data.sentiment.label.value,
                      score=v.data.sentiment.score, nps=fb.scores.nps, phrases=v.data.key_phrases,
                      when=fb.occurred_at)


def fill(url: str, upto: int, have: int, rng: random.Random) -> None:
    """Add stored items (and their rollup rows, as the projection would) until there are ``upto``."""
    engine = create_db_engine(url)
    days: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    phrases: dict[tuple[date, str, str], list[int]] = defaultdict(lambda: [0, 0])
    batch: list[dict[str, object]] = []
    with engine.begin() as conn:
        for n in range(have, upto):
            when = START + timedelta(seconds=rng.randrange(DAYS * 86400))
            stage = rng.choice(STAGES)
            label = rng.choice(("negative", "neutral", "positive"))
            score = rng.uniform(-1, 1)
            ph = rng.sample(PHRASES, 2)
            batch.append(stored_row(f"f{n}", text=f"voice {n} about {ph[0]}", stage=stage, label=label, score=score,
                                    nps=None, phrases=ph, when=when))
            d = days[(when.date(), stage)]
            d[0] += 1
            d[("negative", "neutral", "positive").index(label) + 1] += 1
            d[4] += round(score * SENTIMENT_SCALE)
            for p in ph:
                phrases[(when.date(), stage, p)][0] += 1
                phrases[(when.date(), stage, p)][1] += label == "negative"
            if len(batch) >= 5000:
                conn.execute(insert(FeedbackItem), batch)
                batch.clear()
        if batch:
            conn.execute(insert(FeedbackItem), batch)
    with make_session_factory(engine)() as s:  # merge the new counts into the rollup rows
        for (day, stage), (vol, neg, neu, pos, pts) in days.items():
            row = s.get(StageDay, (day, stage))
            if row is None:
                s.add(StageDay(day=day, stage_id=stage, volume=vol, negative=neg, neutral=neu, positive=pos,
                               sentiment_points=pts))
            else:
                row.volume += vol
                row.negative += neg
                row.neutral += neu
                row.positive += pos
                row.sentiment_points += pts
        for (day, stage, p), (count, neg) in phrases.items():
            prow = s.get(StageDayPhrase, (day, stage, p))
            if prow is None:
                s.add(StageDayPhrase(day=day, stage_id=stage, phrase=p, count=count, negative=neg))
            else:
                prow.count += count
                prow.negative += neg
        s.commit()
    engine.dispose()


def time_queries(url: str, repeats: int = 15) -> tuple[float, float]:
    """(median ms of the rollup stage summary, median ms of the same summary by scanning items)."""
    engine = create_db_engine(url)
    sessions = make_session_factory(engine)
    period = Period(date(2026, 6, 1), date(2026, 6, 28))
    rollup: list[float] = []
    scan: list[float] = []
    for _ in range(repeats):
        with sessions() as s:
            t0 = time.perf_counter()
            totals = stage_totals(s, period)
            for stage in totals:
                top_phrases(s, stage, period)
            rollup.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            s.execute(select(FeedbackItem.stage_id, FeedbackItem.sentiment_label, func.count())
                      .where(FeedbackItem.occurred_at >= period.start(), FeedbackItem.occurred_at < period.end())
                      .group_by(FeedbackItem.stage_id, FeedbackItem.sentiment_label)).all()
            scan.append((time.perf_counter() - t0) * 1000)
    engine.dispose()
    return statistics.median(rollup), statistics.median(scan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--voices", type=int, default=20_000)
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(11)
    voices = make_voices(args.voices, args.customers, rng)
    crm = make_crm(args.customers, rng)
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            print(f"== {backend}")
            with database(backend, args.database_url, Path(tmp)) as url:
                projection, bare = throughput(url, voices, crm)
                print(f"into the story store: {projection:8.0f} events/s   (baseline, bare INSERT of the items: "
                      f"{bare:8.0f} rows/s; {len(voices)} voices, {len(crm)} customer events, batches of 200)")
            with database(backend, args.database_url, Path(tmp)) as url:
                upgrade_schemas(ServiceSettings(database_url=url), ["journey"])
                have = 0
                print(f"{'stored items':>14} {'stage summary (rollups)':>26} {'same by scanning items':>25}")
                for size in sizes:
                    fill(url, size, have, random.Random(size))
                    have = size
                    rollup_ms, scan_ms = time_queries(url)
                    print(f"{size:>14,} {rollup_ms:>23.2f} ms {scan_ms:>22.2f} ms")


if __name__ == "__main__":
    main()
