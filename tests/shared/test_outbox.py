"""The outbox relay finds messages a broker acknowledged and then lost, and sends them again.

``LogWatch`` on its own (offsets going backwards, a log that ends before what was acknowledged), then the relay
against a real broker that loses its log: the bundled broker keeps it in memory, so a restart loses every
message. With nothing left to publish, no later offset can reveal the loss: only the relay's audit of where the
logs end finds it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.models import OutboxMessage
from shared.bus import EmbeddedBroker, EventProducer, ensure_topics, free_port
from shared.bus.producer import Delivery, OutgoingMessage
from shared.contracts import FEEDBACK_RAW
from shared.db import transaction
from shared.outbox import LogWatch, OutboxRelay, stage_messages
from tests.kafka_reading import read_topic

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def test_offsets_going_backwards_mean_a_loss_since_the_first_trusted_batch() -> None:
    watch = LogWatch()
    assert watch.lost([Delivery("t", 0, 0), Delivery("t", 0, 1)], T0) is None
    assert watch.lost([Delivery("t", 0, 2)], T0 + timedelta(seconds=1)) is None
    assert watch.lost([Delivery("t", 0, 0)], T0 + timedelta(seconds=2)) == T0  # the log started again
    assert watch.lost([Delivery("t", 0, 1)], T0 + timedelta(seconds=3)) is None


def test_a_log_that_ends_before_the_acknowledged_messages_means_a_loss() -> None:
    watch = LogWatch()
    watch.lost([Delivery("t", 0, 4), Delivery("t", 1, 9)], T0)
    assert watch.partitions == [("t", 0), ("t", 1)]
    assert watch.audit({("t", 0): 5, ("t", 1): 12}) is None  # others wrote after us: nothing lost
    assert watch.audit({("t", 0): 5, ("t", 1): 3}) == T0
    assert watch.audit({("t", 0): 5, ("t", 1): 3}) == T0  # kept until the resend is done
    watch.forget()
    assert watch.partitions == []  # the next publish starts a new trusted span
    assert watch.audit({}) is None


def test_a_log_that_ends_within_the_acknowledged_messages_is_read_before_it_counts_as_a_loss() -> None:
    watch = LogWatch()
    watch.lost([Delivery("t", 0, 10), Delivery("t", 0, 11)], T0)
    watch.lost([Delivery("t", 0, n) for n in range(12, 500)], T0 + timedelta(seconds=1))
    asked: list[tuple[str, int, int]] = []

    def answer(verdict: bool | None) -> Callable[[str, int, int], bool | None]:
        def holds(topic: str, partition: int, offset: int) -> bool | None:
            asked.append((topic, partition, offset))
            return verdict
        return holds

    assert watch.audit({("t", 0): 300}, answer(True)) is None  # reported short, but the last message is there
    assert asked == [("t", 0, 499)]
    assert watch.audit({("t", 0): 300}, answer(None)) is None  # no answer: settled by a later audit
    assert watch.audit({("t", 0): 300}, answer(False)) == T0  # the broker says it is past the log's end
    asked.clear()
    assert watch.audit({("t", 0): 10}, answer(True)) == T0  # not even the first one acknowledged is there
    assert asked == []


def _pending(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return int(session.scalar(select(func.count()).select_from(OutboxMessage)
                                  .where(OutboxMessage.published_at.is_(None))) or 0)


def test_the_relay_sends_again_what_a_restarted_broker_lost(ingest_sessions: sessionmaker[Session],
                                                           tmp_path: Path) -> None:
    port = free_port()
    broker = EmbeddedBroker(port=port, log_file=tmp_path / "broker-1.log").start()
    producer = EventProducer(broker.bootstrap, client_id="test-audit")
    relay = OutboxRelay(model=OutboxMessage, sessions=ingest_sessions, producer=producer, service="test")
    messages = [OutgoingMessage(FEEDBACK_RAW, f"c-{n % 3}", f'{{"n": {n}}}'.encode()) for n in range(12)]
    with transaction(ingest_sessions) as session:
        stage_messages(session, OutboxMessage, messages, [f"ev-{n}" for n in range(12)])
    try:
        assert relay.publish_pending() == 12
        assert relay.audit() == 0  # the broker has them all
        broker.stop()
        broker = EmbeddedBroker(port=port, log_file=tmp_path / "broker-2.log").start()
        assert read_topic(broker.bootstrap, FEEDBACK_RAW, expect=1, timeout_s=2) == []  # its log is empty
        assert relay.audit() == 12
        assert _pending(ingest_sessions) == 12
        assert relay.publish_pending() == 12
        values = {r.value for r in read_topic(broker.bootstrap, FEEDBACK_RAW, expect=12, timeout_s=20)}
        assert values == {m.value for m in messages}
        assert relay.audit() == 0
    finally:
        relay.close()
        broker.stop()


def test_a_log_end_reported_short_is_not_a_loss_when_the_broker_still_serves_the_messages(
        ingest_sessions: sessionmaker[Session], broker: EmbeddedBroker) -> None:
    """The bundled broker (tansu) can report a partition's end a few hundred messages short after a round that spans
    several record batches per partition, while every message is there to read. The audit reads the log before it
    calls that a loss; before it did, it marked every row published since the relay started unpublished again."""
    producer = EventProducer(broker.bootstrap, client_id="test-audit-short")
    relay = OutboxRelay(model=OutboxMessage, sessions=ingest_sessions, producer=producer, service="test",
                        batch_size=5000)
    ensure_topics(broker.bootstrap, ["test.audit.short"], partitions=3)
    messages = [OutgoingMessage("test.audit.short", f"c-{n % 500}", b"x" * 1200) for n in range(5000)]
    with transaction(ingest_sessions) as session:
        stage_messages(session, OutboxMessage, messages, [f"ev-short-{n}" for n in range(5000)])
    try:
        assert relay.publish_pending() == 5000
        assert relay.audit() == 0
        assert _pending(ingest_sessions) == 0
    finally:
        relay.close()


def test_holds_reads_the_log_itself(broker: EmbeddedBroker) -> None:
    producer = EventProducer(broker.bootstrap, client_id="test-holds")
    try:
        deliveries = producer.deliver([OutgoingMessage("test.holds", "k", b"m") for _ in range(3)])
        topic, partition, last = deliveries[-1]
        assert [d.offset for d in deliveries] == [last - 2, last - 1, last]
        assert producer.holds(topic, partition, last)
        assert producer.holds(topic, partition, 0)
        assert producer.holds(topic, partition, last + 1, timeout_s=1.0) is None  # the end: nothing came
        # Past the end: Kafka answers "out of range" (False); the bundled broker sends nothing back (None).
        assert producer.holds(topic, partition, last + 100, timeout_s=1.0) is not True
    finally:
        producer.close()
