"""Running one source once: read new pages, store the items and move the cursor, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from services.ingest.feedback.schemas import FeedbackCreate
from services.ingest.intake.schemas import Intake
from services.ingest.intake.service import accept_intake
from services.ingest.metrics import POLLED_ITEMS, POLLS, record_rejection
from services.ingest.pollers.config import SourceConfig
from services.ingest.pollers.repository import CursorRepository
from services.ingest.pollers.sources import PageRequest, source_for
from services.ingest.provider_api import ProviderApi, ProviderApiError, RetryPolicy
from services.ingest.webhooks.adapters.base import PayloadRejected, parse_time
from shared.contracts import utcnow
from shared.db import transaction
from shared.observability.tracing import child_traceparent

log = logging.getLogger(__name__)

UNIT_ITEMS = 1000


@dataclass
class PollSummary:
    """What one run did."""

    source: str
    pages: int = 0
    fetched: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    not_modified: bool = False


ApiFactory = Callable[[SourceConfig], ProviderApi]


def default_api(config: SourceConfig) -> ProviderApi:
    """A provider client with the pollers' retry policy."""
    return ProviderApi(name=config.name, timeout_s=20.0, policy=RetryPolicy(attempts=5, base_delay_s=1.0,
                                                                               max_delay_s=60.0))


def poll_once(config: SourceConfig, *, sessions: sessionmaker[Session], api_factory: ApiFactory = default_api,
              on_commit: Callable[[], None] | None = None) -> PollSummary:
    """Read what is new at one source since its cursor and store it; never raises for a provider failure."""
    source = source_for(config)
    summary = PollSummary(config.name)
    with transaction(sessions) as session:
        cursor = CursorRepository(session).get(config.name)
        state: dict[str, Any] = dict(cursor.state) if cursor is not None else {}
    newest = parse_time(state.get("newest"))
    new_state = dict(state)
    items: list[FeedbackCreate] = []
    request: PageRequest | None = None
    try:
        request = source.first(state)  # may mint a token: a refused key is this run's error, like a failed call
        with api_factory(config) as api:
            while request is not None and summary.pages < config.max_pages:
                response = api.get(request.url, params=request.params, headers=request.headers)
                summary.pages += 1
                page = source.read(response, state)
                summary.not_modified = page.not_modified
                new_state.update(page.state)
                summary.rejected.extend(page.rejected)
                reached_cursor = False
                for item in page.items:
                    if newest is not None and item.occurred_at is not None and item.occurred_at < newest:
                        reached_cursor = True
                        continue
                    items.append(item)
                if reached_cursor:
                    break
                request = page.next
    except (ProviderApiError, PayloadRejected) as exc:
        # Keep what was read (it dedupes) but not the cursor: older pages not yet read must be read next time.
        summary.error = str(exc)
        new_state = state
    summary.fetched = len(items)
    seen = [i.occurred_at for i in items if i.occurred_at is not None]
    if summary.error is None and seen:
        latest = max(seen)
        new_state["newest"] = max(latest, newest).isoformat() if newest is not None else latest.isoformat()
    _store(config, sessions, items, new_state, summary)
    for external_id, reason in summary.rejected:
        record_rejection("poll", config.name, "unmappable", reason, external_id=external_id)
    POLLS.labels(config.name, "failed" if summary.error else "ok").inc()
    POLLED_ITEMS.labels(config.name, "accepted").inc(summary.accepted)
    POLLED_ITEMS.labels(config.name, "duplicate").inc(summary.duplicates)
    if summary.error:
        log.warning("poll failed", extra={"source": config.name, "error": summary.error[:300]})
    if summary.accepted and on_commit is not None:
        on_commit()
    return summary


def _store(config: SourceConfig, sessions: sessionmaker[Session], items: list[FeedbackCreate],
           state: dict[str, Any], summary: PollSummary) -> None:
    ran_at: datetime = utcnow()
    trace = child_traceparent(None)
    with transaction(sessions) as session:
        units = [Intake(traceparent=trace, feedback=items[i:i + UNIT_ITEMS]) for i in range(0, len(items), UNIT_ITEMS)]
        for result in accept_intake(session=session, units=units):
            summary.accepted += sum(o.status == "accepted" for o in result.feedback)
            summary.duplicates += sum(o.status == "duplicate" for o in result.feedback)
        CursorRepository(session).save(config.name, state=state, ran_at=ran_at, error=summary.error)
