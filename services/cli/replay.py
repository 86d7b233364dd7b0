"""``listening-path replay``: re-publish accepted items from the raw store (for a new consumer, or after an incident).

Events keep their original ids, so consumers that already applied them change nothing. Publishing is paced
to ``--rate`` events per second so that a replay does not starve live traffic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from shared.bus import EventProducer, OutgoingMessage, ensure_topics
from shared.contracts import (
    CONTRACT_BY_TOPIC,
    CUSTOMER_EVENTS,
    FEEDBACK_RAW,
    CloudEvent,
    CustomerEvent,
    FeedbackReceived,
)
from shared.db import create_db_engine, make_session_factory
from shared.settings import ServiceSettings

TOPICS = (FEEDBACK_RAW, CUSTOMER_EVENTS)
SOURCE = "/listening-path/ingest"


def _messages(sessions: sessionmaker[Session], topic: str, start: datetime, end: datetime
              ) -> tuple[int, Iterator[OutgoingMessage]]:
    from services.ingest.models import RawCustomerEvent, RawFeedback

    model = RawFeedback if topic == FEEDBACK_RAW else RawCustomerEvent
    payload = FeedbackReceived if topic == FEEDBACK_RAW else CustomerEvent
    event_type = CONTRACT_BY_TOPIC[topic].event_type
    where = (model.received_at >= start, model.received_at < end)
    with sessions() as session:
        total = int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def generate() -> Iterator[OutgoingMessage]:
        with sessions() as session:
            rows = session.execute(select(model.event_id, model.normalised).where(*where)
                                   .order_by(model.received_at, model.id)).yield_per(500)
            for event_id, doc in rows:
                data = payload.model_validate(doc)
                event = CloudEvent[payload](id=event_id, source=SOURCE, type=event_type, data=data)  # type: ignore[valid-type]
                key = data.customer.key() or getattr(data, "feedback_id", None) or event_id
                yield OutgoingMessage(topic, key, event.to_bytes(), headers=(("ce_id", event_id.encode()),))

    return total, generate()


@click.command()
@click.option("--from", "since", type=click.DateTime(["%Y-%m-%d"]), required=True,
              help="First UTC day of acceptance (received_at) to replay.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last UTC day (default: today).")
@click.option("--topic", "topics", multiple=True, type=click.Choice(TOPICS), help="Repeatable; default: both.")
@click.option("--rate", type=click.IntRange(1, 100_000), default=500, show_default=True, help="Events per second.")
def replay(since: datetime, until: datetime | None, topics: tuple[str, ...], rate: int) -> None:
    """Re-publish accepted feedback and customer events from the raw store, at a bounded rate."""
    settings = ServiceSettings()
    bootstrap = settings.require_bootstrap()
    sessions = make_session_factory(create_db_engine(settings.database_url_for("ingest")))
    start = datetime.combine(since.date(), dtime.min, tzinfo=UTC)
    last: date = until.date() if until else datetime.now(UTC).date()
    end = datetime.combine(last + timedelta(days=1), dtime.min, tzinfo=UTC)
    chosen = topics or TOPICS
    ensure_topics(bootstrap, chosen, partitions=settings.kafka_partitions)
    producer = EventProducer(bootstrap, client_id="lp-replay", partitions=settings.kafka_partitions)
    try:
        for topic in chosen:
            total, messages = _messages(sessions, topic, start, end)
            sent = 0
            began = time.monotonic()
            batch: list[OutgoingMessage] = []
            with click.progressbar(length=total, label=f"{topic}", show_pos=True) as bar:
                for message in messages:
                    batch.append(message)
                    if len(batch) >= min(rate, 500):
                        sent += _send(producer, batch, bar)
                        _pace(began, sent, rate)
                if batch:
                    sent += _send(producer, batch, bar)
            click.echo(f"replayed {sent} events to {topic} ({start.date()} to {last})")
    finally:
        producer.close()


def _send(producer: EventProducer, batch: list[OutgoingMessage], bar: object) -> int:
    producer.publish(batch)
    n = len(batch)
    bar.update(n)  # type: ignore[attr-defined]
    batch.clear()
    return n


def _pace(began: float, sent: int, rate: int) -> None:
    ahead = sent / rate - (time.monotonic() - began)
    if ahead > 0:
        time.sleep(ahead)
