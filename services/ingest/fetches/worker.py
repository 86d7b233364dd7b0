"""The fetch worker: turns queued webhook envelopes into feedback (or CRM customer events) by reading the
provider's API.

Why a durable queue rather than fetching inline: the webhook is answered as soon as its envelope is
committed, so a slow or failing provider API never makes us drop or delay an accepted call; the worker
retries with capped exponential backoff (honouring ``Retry-After``) across restarts, because the queue is a
table. A fetch and the feedback it yields are committed together with the envelope's ``done`` mark; if the
process dies in between, the envelope is fetched again and the items dedupe on ``(provider, external_id)``.
An envelope that keeps failing (or fails permanently: 401, 404) is parked as ``failed`` with its last error,
never deleted.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.orm import Session, sessionmaker

from services.ingest.intake.repository import PendingFetchRepository
from services.ingest.intake.schemas import Intake
from services.ingest.intake.service import accept_intake
from services.ingest.metrics import FETCH_QUEUE, FETCHES, record_rejection
from services.ingest.provider_api import ProviderApi, ProviderApiError, RetryPolicy
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters import ProviderAdapter
from shared.contracts import CustomerEvent, utcnow
from shared.db import transaction
from shared.observability.metrics import PIPELINE_ITEMS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Due:
    id: int
    provider: str
    envelope: dict[str, Any]
    traceparent: str | None
    attempts: int


ApiFactory = Callable[[str], ProviderApi]


@runtime_checkable
class CustomerEventFetcher(Protocol):
    """An adapter whose envelopes hold CRM changes (HubSpot deals) rather than survey responses."""

    def fetch_customer_events(self, api: ProviderApi, envelope: dict[str, Any],
                              settings: IngestSettings) -> list[CustomerEvent]:
        """The customer events an envelope means, read from the provider's API."""
        ...


class FetchWorker:
    """Works through ``pending_fetches``: fetch, store, mark done; back off and retry on failure."""

    def __init__(
        self,
        *,
        sessions: sessionmaker[Session],
        settings: IngestSettings,
        adapters: Mapping[str, ProviderAdapter],
        api_factory: ApiFactory | None = None,
        batch_size: int = 20,
        on_commit: Callable[[], None] | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._adapters = adapters
        self._api_factory = api_factory or self._default_api
        self._batch_size = batch_size
        self._on_commit = on_commit
        self._wake = threading.Event()
        self._closing = False

    def _default_api(self, provider: str) -> ProviderApi:
        # One quick in-call retry; the durable queue does the patient retrying.
        return ProviderApi(name=provider, timeout_s=self._settings.fetch_timeout_s,
                           policy=RetryPolicy(attempts=2, base_delay_s=0.2, max_delay_s=1.0,
                                              max_rate_limit_wait_s=5.0))

    def notify(self) -> None:
        """Say that envelopes were queued, so the worker does not wait for its tick."""
        self._wake.set()

    def close(self) -> None:
        """Ask a running ``run`` to return after the envelope in hand (at shutdown, or when stepping down)."""
        self._closing = True
        self._wake.set()

    def reopen(self) -> None:
        """Let ``run`` work again after ``close`` (this process leads again)."""
        self._closing = False

    def run_due(self) -> int:
        """Fetch every envelope that is due now (up to one batch); returns how many were tried."""
        with transaction(self._sessions) as session:
            due = [_Due(r.id, r.provider, r.envelope, r.traceparent, r.attempts)
                   for r in PendingFetchRepository(session).due(utcnow(), self._batch_size)]
        for row in due:
            self._fetch_one(row)
        if due:
            self._refresh_gauge()
        return len(due)

    def run(self, stop: threading.Event) -> None:
        """Work until ``stop`` is set; an idle worker looks again every second or when notified."""
        while not stop.is_set() and not self._closing:
            try:
                tried = self.run_due()
            except Exception as exc:  # the database is unavailable: only delays fetching
                log.warning("fetch round failed; will retry", extra={"error": repr(exc)})
                stop.wait(2.0)
                continue
            if tried < self._batch_size and not self._closing:
                self._wake.wait(1.0)
                self._wake.clear()

    def _fetch_one(self, row: _Due) -> None:
        adapter = self._adapters.get(row.provider)
        try:
            if adapter is None:
                raise ProviderApiError(f"no adapter for {row.provider}", permanent=True)
            events: list[CustomerEvent] = []
            items = []
            with self._api_factory(row.provider) as api:
                if isinstance(adapter, CustomerEventFetcher):
                    events = adapter.fetch_customer_events(api, row.envelope, self._settings)
                else:
                    items = adapter.fetch(api, row.envelope, self._settings)
        except ProviderApiError as exc:
            self._failed(row, exc)
            return
        except Exception as exc:  # a response we cannot map: park it, never loop on it
            self._failed(row, ProviderApiError(f"{type(exc).__name__}: {exc}", permanent=True))
            return
        with transaction(self._sessions) as session:
            (result,) = accept_intake(session=session, units=[
                Intake(traceparent=row.traceparent or "", feedback=items, customer_events=events)
            ]) if items or events else (None,)
            pending = PendingFetchRepository(session).get(row.id)
            if pending is not None:
                pending.status = "done"
                pending.attempts = row.attempts + 1
                pending.updated_at = utcnow()
                pending.last_error = None
        FETCHES.labels(row.provider, "done").inc()
        if result is not None:
            PIPELINE_ITEMS.labels("ingest", "accepted").inc(result.accepted)
            PIPELINE_ITEMS.labels("ingest", "duplicate").inc(result.duplicates)
        if self._on_commit is not None:
            self._on_commit()

    def _failed(self, row: _Due, exc: ProviderApiError) -> None:
        attempts = row.attempts + 1
        give_up = exc.permanent or attempts >= self._settings.fetch_max_attempts
        delay = exc.retry_after_s if exc.retry_after_s is not None else min(
            self._settings.fetch_max_backoff_s, 2.0 ** attempts) * random.uniform(0.5, 1.0)  # noqa: S311
        with transaction(self._sessions) as session:
            pending = PendingFetchRepository(session).get(row.id)
            if pending is not None:
                pending.attempts = attempts
                pending.last_error = str(exc)[:2000]
                pending.updated_at = utcnow()
                if give_up:
                    pending.status = "failed"
                else:
                    pending.next_attempt_at = utcnow() + timedelta(seconds=delay)
        if give_up:
            FETCHES.labels(row.provider, "failed").inc()
            record_rejection("fetch", row.provider, "fetch_failed", str(exc), attempts=attempts)
        else:
            FETCHES.labels(row.provider, "retry").inc()
            log.info("fetch failed; will retry", extra={"provider": row.provider, "attempts": attempts,
                                                         "retry_in_s": round(delay, 1), "error": str(exc)[:300]})

    def _refresh_gauge(self) -> None:
        try:
            with transaction(self._sessions) as session:
                counts = PendingFetchRepository(session).counts()
            for status in ("pending", "failed"):
                FETCH_QUEUE.labels(status).set(counts.get(status, 0))
        except Exception:
            log.warning("cannot read the fetch queue size")
