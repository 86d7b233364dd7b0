"""Faults while feedback streams in: nothing accepted is lost, nothing is counted twice.

A background thread posts feedback to ingest at a steady rate while the test, on the real four-process
stack over the real broker and database:

* kills nlp and journey with SIGKILL mid-stream and starts them again;
* stops the broker and starts it again (the bundled broker keeps messages in memory, so this also loses
  whatever was on the bus: the outbox relay must notice and publish those rows again);
* makes the database unavailable for a while (SQLite: another process holds the write lock past the
  services' busy timeout; PostgreSQL: the database refuses connections and live ones are terminated);
* puts poison messages on the topics;
* stops every service with SIGTERM and starts them again.

Then every item that was answered 2xx must be in the story exactly once (journey's store, and through
reporting), the rollups must count each once, poison must be in the dead-letter topics with a reason, and
items answered with an error are counted apart (they may be in the story, at most once). The counts are
printed and written to ``fault_report.json`` in the test's tmp dir.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from services.catalog import SERVICES
from services.cli.migrate import upgrade_schemas
from services.cli.stack import ServiceProcess, Stack, child_env
from services.ingest.models import OutboxMessage
from services.journey.models import FeedbackItem, StageDay
from shared.bus import EmbeddedBroker, EventProducer, OutgoingMessage, free_port
from shared.bus.admin import consumer_lag, end_offsets
from shared.contracts import FEEDBACK_ENRICHED, FEEDBACK_RAW, CloudEvent, FeedbackReceived, dead_letter_topic
from shared.settings import ServiceSettings, normalise_database_url
from tests.conftest import ADMIN_DATABASE_URL, Database
from tests.polling import wait_for

pytestmark = pytest.mark.integration

KEY = "faults-key-0123456789abcdef0123"
AUTH = {"X-API-Key": KEY}
PROVIDER = "faults"
TEXTS = [
    "The onboarding checklist was clear and I was live in an hour.",
    "Support took three days to answer a simple billing question.",
    "Invoice shows the wrong VAT number again, please fix it.",
    "Love the new dashboard, the team uses it every morning.",
    "Setup of the SSO integration failed twice before it worked.",
]
REF = re.compile(r"\[ref ([a-z0-9-]+)\]")


def run_id() -> str:
    """A run's id for its refs, starting with a letter: six hex digits that happen to be all digits (one run in
    sixteen) made "[ref 482913-00012]" a phone number to nlp's redaction, and every ref vanished from the texts."""
    return "r" + uuid.uuid4().hex[:6]
CONSUMERS = {"lp-nlp": (FEEDBACK_RAW,), "lp-journey": (FEEDBACK_ENRICHED,)}


@pytest.fixture(scope="module")
def stack(broker: EmbeddedBroker, module_database: Database, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[Stack]:
    upgrade_schemas(ServiceSettings(data_dir=module_database.data_dir, database_url=module_database.url))
    env = child_env({"LP_KAFKA_BOOTSTRAP": broker.bootstrap, "LP_API_KEY": KEY, "LP_REPORT_CACHE_S": "0",
                     "LP_RATE_LIMIT": "100000/minute", **module_database.env()})
    ports = {name: free_port() for name in SERVICES}
    with Stack(env=env, ports=ports, log_dir=tmp_path_factory.mktemp("logs")) as running:
        yield running


# -- the client --------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """What the client saw for one item."""

    status: int | None
    phase: str
    feedback_id: str | None = None
    error: str | None = None


@dataclass
class FeedbackStream:
    """Posts one item at a time to ingest at ``rate`` items/s from a background thread."""

    url: str
    rate: float
    run: str = field(default_factory=lambda: run_id())
    phase: str = "steady"
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> FeedbackStream:
        self._thread = threading.Thread(target=self._send_all, name="feedback-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    def accepted(self) -> dict[str, str]:
        """External id → feedback id of every item answered 2xx."""
        return {ref: o.feedback_id for ref, o in list(self.outcomes.items())
                if o.status is not None and 200 <= o.status < 300 and o.feedback_id}

    def failed(self) -> dict[str, Outcome]:
        return {ref: o for ref, o in list(self.outcomes.items()) if o.status is None or not 200 <= o.status < 300}

    def wait_sent(self, more: int) -> None:
        """Let ``more`` further items be offered (how long a fault lasts, in the stream's own time)."""
        target = self.sent + more
        wait_for(lambda: self.sent >= target, timeout_s=120, what=f"{more} more items offered")

    def _send_all(self) -> None:
        # Open loop: each item goes out on time from a small pool, so one slow answer does not hold the rest.
        with httpx.Client(headers=AUTH, timeout=30) as client, ThreadPoolExecutor(8) as pool:
            i = 0
            began = time.monotonic()
            while not self._stop.is_set():
                pool.submit(self._send_one, client, i)
                i += 1
                ahead = i / self.rate - (time.monotonic() - began)
                if ahead > 0:
                    self._stop.wait(ahead)
                else:
                    began = time.monotonic() - i / self.rate  # after a stall, keep the rate, do not burst

    def _send_one(self, client: httpx.Client, i: int) -> None:
        ref = f"{self.run}-{i:05d}"
        doc = {"provider": PROVIDER, "source": "survey", "external_id": ref,
               "text": f"{TEXTS[i % len(TEXTS)]} [ref {ref}]", "customer": {"id": f"F-{i % 40}"},
               "scores": {"nps": i % 11}}
        phase = self.phase
        try:
            response = client.post(self.url, json=doc)
            json_body = response.headers.get("content-type", "").startswith("application/json")
            body = response.json() if json_body else {}
            self.outcomes[ref] = Outcome(response.status_code, phase, body.get("id"),
                                         None if response.is_success else response.text[:200])
        except httpx.HTTPError as exc:
            self.outcomes[ref] = Outcome(None, phase, error=repr(exc)[:200])


# -- faults ------------------------------------------------------------------------------------------
def crash_and_restart(proc: ServiceProcess, stream: FeedbackStream) -> None:
    """SIGKILL mid-stream, as a crash would; start it again once the stream has moved on."""
    proc.kill()
    stream.wait_sent(20)
    proc.start()
    proc.wait_ready()


@contextmanager
def database_outage(database: Database) -> Iterator[str]:
    """The database refuses work while the block runs; yields what was done."""
    if database.url is None:
        # Another process takes the write lock of both stores and holds it past the busy timeout (10 s).
        locks = []
        try:
            for owner in ("ingest", "journey"):
                conn = sqlite3.connect(database.data_dir / f"{owner}.db", timeout=30, isolation_level=None)
                conn.execute("BEGIN EXCLUSIVE")
                locks.append(conn)
            yield "SQLite: ingest.db and journey.db write-locked by another process"
        finally:
            for conn in locks:
                conn.execute("ROLLBACK")
                conn.close()
        return
    assert ADMIN_DATABASE_URL
    admin = create_engine(normalise_database_url(ADMIN_DATABASE_URL), isolation_level="AUTOCOMMIT")
    name = make_url(database.url).database
    try:
        with admin.connect() as pg:
            pg.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            pg.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        yield "PostgreSQL: connections refused, live ones terminated"
    finally:
        with admin.connect() as pg:
            pg.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


def publish_poison(bootstrap: str, run: str) -> dict[str, tuple[str, str]]:
    """Messages no consumer can ever process; key → (topic, the dead-letter reason code expected)."""
    good = FeedbackReceived(feedback_id=f"fb_poison{run}", kind="aided", source="survey", provider=PROVIDER,
                            external_id=f"poison-{run}", text="never stored", occurred_at="2026-11-20T10:00:00Z",
                            received_at="2026-11-20T10:00:00Z")
    invalid_data = json.loads(CloudEvent[FeedbackReceived](
        source="/tests", type="io.listeningpath.feedback.received.v1", data=good).to_bytes())
    invalid_data["data"]["scores"] = {"nps": 42}
    poison = {
        f"poison-{run}-bytes": (FEEDBACK_RAW, b"\xff\xfe\x00 not json at all"),
        f"poison-{run}-shape": (FEEDBACK_RAW, b'{"hello": "world"}'),
        f"poison-{run}-nps": (FEEDBACK_RAW, json.dumps(invalid_data).encode()),
        f"poison-{run}-enriched": (FEEDBACK_ENRICHED, json.dumps({**invalid_data, "data": {"feedback": 1}}).encode()),
    }
    producer = EventProducer(bootstrap, client_id="tests-poison")
    try:
        producer.publish([OutgoingMessage(topic, key, value) for key, (topic, value) in poison.items()])
    finally:
        producer.close()
    on_topics = {r.key.decode() for topic in (FEEDBACK_RAW, FEEDBACK_ENRICHED) for r in read_all(bootstrap, topic)
                 if r.key is not None}
    assert set(poison) <= on_topics, "the broker did not keep the poison it acknowledged"
    group = {FEEDBACK_RAW: "lp-nlp", FEEDBACK_ENRICHED: "lp-journey"}
    return {key: (dead_letter_topic(group[topic]), "invalid_event") for key, (topic, _) in poison.items()}


# -- reading what happened ---------------------------------------------------------------------------
def read_all(bootstrap: str, topic: str) -> list[Any]:
    """Every record on ``topic`` now, from the start to its end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, allow_auto_create_topics=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        ends = end_offsets(consumer, tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + 60
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=300).values():
                records.extend(r for r in batch if r.offset < ends[TopicPartition(r.topic, r.partition)])
        return records
    finally:
        consumer.close()


def story_from_reporting(stack: Stack) -> list[dict[str, Any]]:
    """Every voice of this test's provider, through the reporting API (all pages)."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"provider": PROVIDER, "limit": 200, **({"cursor": cursor} if cursor else {})}
        response = httpx.get(f"{stack['reporting'].url}/v1/feedback", params=params, headers=AUTH, timeout=30)
        response.raise_for_status()
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


@dataclass(frozen=True)
class StoreCounts:
    """What journey's store holds: this provider's voice ids, and the rollups against all voices."""

    ids: list[str]
    voices: int
    rollup_volume: int


def story_store(database: Database) -> StoreCounts:
    engine = create_engine(normalise_database_url(database.url_for("journey")))
    try:
        with engine.connect() as conn:
            ids = list(conn.scalars(select(FeedbackItem.feedback_id).where(FeedbackItem.provider == PROVIDER)))
            voices = int(conn.scalar(select(func.count()).select_from(FeedbackItem)) or 0)
            volume = int(conn.scalar(select(func.coalesce(func.sum(StageDay.volume), 0))) or 0)
        return StoreCounts(ids, voices, volume)
    finally:
        engine.dispose()


def outbox_backlog(database: Database) -> int:
    engine = create_engine(normalise_database_url(database.url_for("ingest")))
    try:
        with engine.connect() as conn:
            return int(conn.scalar(select(func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.published_at.is_(None))) or 0)
    finally:
        engine.dispose()


def drained(bootstrap: str, database: Database) -> bool:
    """Nothing waits in ingest's outbox and the nlp and journey groups have committed every message."""
    if outbox_backlog(database):
        return False
    return all(sum(consumer_lag(bootstrap, group, topics).values()) == 0 for group, topics in CONSUMERS.items())


def logs(stack: Stack) -> str:
    """The last lines of each service's log, each cut short."""
    return "\n".join(f"--- {name}\n" + "\n".join(line[:400] for line in proc.log_tail(25).splitlines())
                     for name, proc in stack.processes.items())


# -- tests -------------------------------------------------------------------------------------------
def test_sigterm_drains_commits_and_a_restart_resumes_where_it_stopped(stack: Stack, broker: EmbeddedBroker
                                                                         ) -> None:
    """nlp stopped mid-burst: it finishes its batch, publishes and commits it, and exits within the bound;
    started again it goes on from its committed offset. So every item is enriched exactly once on the
    topic: a batch published but not committed would show up twice, one committed but not published not at
    all."""
    run = run_id()
    burst = 400
    items = [{"provider": "drain", "source": "survey", "external_id": f"drain-{run}-{i}",
              "text": f"{TEXTS[i % len(TEXTS)]} [ref drain-{run}-{i}]", "customer": {"id": f"D-{i % 25}"}}
             for i in range(burst)]
    response = httpx.post(f"{stack['ingest'].url}/v1/feedback", json={"items": items}, headers=AUTH, timeout=60)
    assert response.status_code == 202, response.text
    ids = {item["id"] for item in response.json()["items"]}

    def enriched_of_burst() -> list[str]:
        return [json.loads(r.value)["subject"] for r in read_all(broker.bootstrap, FEEDBACK_ENRICHED)
                if json.loads(r.value).get("subject") in ids]

    wait_for(lambda: enriched_of_burst(), timeout_s=120, what="nlp to start on the burst")
    nlp = stack["nlp"]
    assert nlp.proc is not None
    began = time.monotonic()
    stopped_on_sigterm = nlp.stop(timeout_s=30)
    took = time.monotonic() - began
    before = enriched_of_burst()
    assert stopped_on_sigterm, f"nlp ignored SIGTERM for 30 s:\n{nlp.log_tail()}"
    assert took < 30
    assert "Application shutdown complete." in nlp.log_tail(10)
    assert 0 < len(before) < burst, "the stop did not land mid-burst; make the burst larger"
    assert len(before) == len(set(before))

    nlp.start()
    nlp.wait_ready()
    wait_for(lambda: len(set(enriched_of_burst())) == burst, timeout_s=180, what="the rest of the burst enriched")
    wait_for(lambda: sum(consumer_lag(broker.bootstrap, "lp-nlp", (FEEDBACK_RAW,)).values()) == 0, timeout_s=60,
             what="lp-nlp to commit the end of the raw topic")
    after = Counter(enriched_of_burst())
    assert [i for i, n in after.items() if n > 1] == [], "items enriched twice: the drain did not commit"
    summary = (f"nlp stopped on SIGTERM in {took:.1f} s with {len(before)}/{burst} of a burst enriched; "
               f"restarted, it enriched the other {burst - len(before)}, none twice")
    print("\n" + summary)  # noqa: T201


def test_no_accepted_item_is_lost_or_counted_twice_through_faults(
        stack: Stack, broker: EmbeddedBroker, module_database: Database, tmp_path: Path) -> None:
    stream = FeedbackStream(f"{stack['ingest'].url}/v1/feedback", rate=12).start()
    faults: list[str] = []
    poison: dict[str, tuple[str, str]] = {}
    try:
        stream.wait_sent(40)
        stream.phase = "nlp crash"
        crash_and_restart(stack["nlp"], stream)
        faults.append("nlp killed (SIGKILL) and restarted")
        stream.phase = "steady 2"
        stream.wait_sent(30)
        stream.phase = "journey crash"
        crash_and_restart(stack["journey"], stream)
        faults.append("journey killed (SIGKILL) and restarted")
        stream.phase = "steady 3"
        stream.wait_sent(30)

        stream.phase = "broker down"
        broker.stop()
        stream.wait_sent(30)
        broker.start()
        faults.append("broker stopped and started again (its in-memory log lost)")
        stream.phase = "after broker restart"
        stream.wait_sent(40)

        stream.phase = "database out"
        with database_outage(module_database) as how:
            # Out until ingest has refused an item (on SQLite: once a writer waited out the 10 s busy timeout),
            # and for at least 8 s.
            out_since = time.monotonic()
            wait_for(lambda: stream.failed() and time.monotonic() - out_since > 8, timeout_s=60,
                     what="ingest to refuse an item while the database is out")
        faults.append(f"database unavailable ({how})")
        stream.phase = "after database outage"
        stream.wait_sent(30)

        stream.phase = "full restart"
        for proc in reversed(list(stack.processes.values())):
            assert proc.stop(timeout_s=30), f"{proc.spec.name} ignored SIGTERM:\n{proc.log_tail()}"
        # Poison comes from a foreign producer while the services are down. Not while ingest's relay publishes:
        # the bundled broker (tansu, memory storage) races two producers writing one partition and can drop an
        # acknowledged batch; the relay notices that for its own rows (shared/outbox.py), a foreign one cannot.
        poison = publish_poison(broker.bootstrap, stream.run)
        faults.append(f"{len(poison)} poison messages put on the raw and enriched topics")
        stack.start()
        faults.append("every service stopped with SIGTERM and started again")
        stream.phase = "after full restart"
        stream.wait_sent(30)
    finally:
        stream.stop()

    accepted = stream.accepted()
    failed = stream.failed()
    wanted = set(accepted.values())
    try:
        wait_for(lambda: wanted <= set(story_store(module_database).ids), timeout_s=240,
                 what="every accepted item in the story store")
        wait_for(lambda: drained(broker.bootstrap, module_database), timeout_s=120,
                 what="the outbox and the nlp and journey groups drained")
    except pytest.fail.Exception as exc:
        missing = wanted - set(story_store(module_database).ids)
        phases = Counter(o.phase for o in stream.outcomes.values() if o.feedback_id in missing)
        lags = {g: consumer_lag(broker.bootstrap, g, t) for g, t in CONSUMERS.items()}
        # Where were they lost: never on the raw topic, on it but never enriched, or enriched but not stored?
        on_raw = {json.loads(r.value).get("subject") for r in read_all(broker.bootstrap, FEEDBACK_RAW)}
        on_enriched = {json.loads(r.value).get("subject") for r in read_all(broker.bootstrap, FEEDBACK_ENRICHED)}
        where = Counter("not on raw" if m not in on_raw else "raw only" if m not in on_enriched else "enriched"
                        for m in missing)
        pytest.fail(f"{exc}: {len(missing)} accepted items not in the story, sent while {dict(phases)}; "
                    f"on the topics: {dict(where)}; outbox backlog {outbox_backlog(module_database)}, "
                    f"lag {lags}\n{logs(stack)}")

    store = story_store(module_database)
    reported = story_from_reporting(stack)
    reported_ids = [item["id"] for item in reported]
    refs = Counter(m.group(1) for item in reported if (m := REF.search(item["text"])))
    lost = sorted(wanted - set(store.ids))
    duplicated = (len(store.ids) - len(set(store.ids))) + (len(reported_ids) - len(set(reported_ids))) \
        + (store.rollup_volume - store.voices)
    failed_in_story = sorted(ref for ref in failed if refs.get(ref))

    dlq_topics = {t for t, _ in poison.values()}
    letters = [json.loads(r.value) for topic in dlq_topics for r in read_all(broker.bootstrap, topic)]
    dead = {letter["key"]: letter["reason"] for letter in letters if letter.get("key") in poison}

    report = {
        "database": "postgresql" if module_database.url else "sqlite",
        "faults": faults,
        "sent": stream.sent,
        "accepted_2xx": len(accepted),
        "refused_or_failed": len(failed),
        "failed_but_stored": len(failed_in_story),
        "in_story": len(wanted & set(store.ids)),
        "in_reporting": len(wanted & set(reported_ids)),
        "poison_sent": len(poison),
        "in_dlq": len(dead),
        "lost": len(lost),
        "duplicated": duplicated,
        "failure_statuses": dict(Counter(str(o.status) for o in failed.values())),
    }
    (tmp_path / "fault_report.json").write_text(json.dumps(report, indent=2))
    print("\n" + json.dumps(report, indent=2))  # noqa: T201 - the figures are the point of this test

    assert lost == [], f"accepted but not in the story: {lost[:10]}"
    assert duplicated == 0
    assert wanted <= set(reported_ids), "the story store and reporting disagree"
    assert all(refs[ref] == 1 for ref in accepted), "an accepted item is shown other than once"
    assert all(refs[ref] <= 1 for ref in failed), "an item the client saw fail is in the story twice"
    assert set(refs) <= set(stream.outcomes)
    assert {key: reason.split(":")[0] for key, reason in dead.items()} == {k: r for k, (_, r) in poison.items()}
    assert len(accepted) > 100
    assert failed, "the faults should have been felt by the client"
