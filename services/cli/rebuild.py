"""``listening-path journey rebuild``: recreate the story store from the raw store or the topics."""

from __future__ import annotations

from collections.abc import Iterator

import click
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.cli.migrate import upgrade_schemas
from services.journey.journey_map import service as journey_maps
from services.journey.rebuild import apply_stream, batched, compare, snapshot
from services.journey.runtime import story_context
from services.journey.settings import JourneySettings
from shared.bus.replay import read_to_end
from shared.contracts import (
    CUSTOMER_EVENTS,
    FEEDBACK_ENRICHED,
    CloudEvent,
    CustomerEvent,
    FeedbackEnriched,
    FeedbackReceived,
    JourneyMap,
)
from shared.db import create_db_engine, make_session_factory

BATCH = 256


def raw_voices(ingest: sessionmaker[Session], journey_map: JourneyMap) -> Iterator[list[CloudEvent[FeedbackEnriched]]]:
    """The raw store's items, oldest first, tagged again by the nlp service's own code."""
    from services.ingest.models import RawFeedback
    from services.nlp.enrichment.service import enrich
    from services.nlp.models import Analyzer

    analyzer = Analyzer.load(journey_map)
    envelope = CloudEvent[FeedbackEnriched]
    with ingest() as session:
        rows = session.execute(select(RawFeedback.event_id, RawFeedback.normalised)
                               .order_by(RawFeedback.received_at, RawFeedback.id)).yield_per(BATCH)
        for chunk in batched(iter(rows), BATCH):
            received = [CloudEvent[FeedbackReceived](id=event_id, source="/listening-path/ingest",
                                                      type="io.listeningpath.feedback.received.v1",
                                                      data=FeedbackReceived.model_validate(doc))
                        for event_id, doc in chunk]
            yield [envelope.model_validate_json(m.value) for m in enrich(analyzer, received)]


def raw_customer_events(ingest: sessionmaker[Session]) -> Iterator[list[CloudEvent[CustomerEvent]]]:
    """The raw store's CRM events, oldest first."""
    from services.ingest.models import RawCustomerEvent

    with ingest() as session:
        rows = session.execute(select(RawCustomerEvent.event_id, RawCustomerEvent.normalised)
                               .order_by(RawCustomerEvent.occurred_at, RawCustomerEvent.id)).yield_per(BATCH)
        for chunk in batched(iter(rows), BATCH):
            yield [CloudEvent[CustomerEvent](id=event_id, source="/listening-path/ingest",
                                             type="io.listeningpath.customer.event.v1",
                                             data=CustomerEvent.model_validate(doc)) for event_id, doc in chunk]


@click.group()
def journey() -> None:
    """The journey service's operations."""


@journey.command()
@click.option("--source", type=click.Choice(["raw", "topics"]), default="raw", show_default=True,
              help="raw: ingest's raw store, re-tagged; topics: the enriched and customer-event topics.")
@click.option("--into", "target_url", required=True,
              help="Database URL of the new story store (e.g. sqlite:///rebuilt.db); it is migrated first.")
@click.option("--compare/--no-compare", "check", default=True, show_default=True,
              help="Compare the result with the live story store.")
def rebuild(source: str, target_url: str, check: bool) -> None:
    """Rebuild the story store into a new database by replaying its inputs."""
    settings = JourneySettings()
    live = make_session_factory(create_db_engine(settings.database_url_for("journey")))
    target = settings.model_copy(update={"database_url": target_url})
    upgrade_schemas(target, ["journey"])
    rebuilt = make_session_factory(create_db_engine(target.database_url_for("journey")))
    with live() as session:
        journey_map = journey_maps.current(session) or JourneyMap.load(settings.journey_map)
    with rebuilt() as session:
        journey_maps.publish(session, journey_map, by="rebuild", announce=False)
        session.commit()
    if source == "raw":
        ingest = make_session_factory(create_db_engine(settings.database_url_for("ingest")))
        voices: Iterator[list[CloudEvent[FeedbackEnriched]]] = raw_voices(ingest, journey_map)
        events: Iterator[list[CloudEvent[CustomerEvent]]] = raw_customer_events(ingest)
    else:
        bootstrap = settings.require_bootstrap()
        voices = read_to_end(bootstrap, FEEDBACK_ENRICHED, FeedbackEnriched, batch_size=BATCH)
        events = read_to_end(bootstrap, CUSTOMER_EVENTS, CustomerEvent, batch_size=BATCH)
    with click.progressbar(length=0, label="replaying", show_pos=True) as bar:
        result = apply_stream(rebuilt, lambda s: story_context(s, settings, publish=False), voices, events,
                              progress=bar.update)
    click.echo(f"replayed {result.voices} voices and {result.customer_events} customer events into {target_url}")
    if check:
        differing = compare(live, rebuilt)
        if differing:
            a, b = snapshot(live), snapshot(rebuilt)
            click.echo(f"{source}: live {a['items']} items, rebuilt {b['items']} items", err=True)
            raise click.ClickException(f"the rebuilt store differs from the live one in: {', '.join(differing)}")
        click.echo("the rebuilt store matches the live one (rollups, customers, state history)")

