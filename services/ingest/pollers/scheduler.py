"""The poll scheduler: a worker inside ingest that runs each configured source on its schedule.

Schedules survive restarts (the last run time is in ``poll_cursors``); a failed run is tried again after
``min(every, 60s * 2^failures)`` rather than waiting a whole period.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from services.ingest.pollers.config import PollersConfig, SourceConfig
from services.ingest.pollers.repository import CursorRepository
from services.ingest.pollers.service import ApiFactory, PollSummary, default_api, poll_once
from shared.db import transaction

log = logging.getLogger(__name__)

MAX_IDLE_S = 30.0


class PollScheduler:
    """Runs due sources one after another; sleeps until the next one is due."""

    def __init__(self, config: PollersConfig, *, sessions: sessionmaker[Session],
                 api_factory: ApiFactory = default_api, on_commit: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._sessions = sessions
        self._api_factory = api_factory
        self._on_commit = on_commit
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._last: dict[str, float] = {}

    @classmethod
    def from_file(cls, path: Path, *, sessions: sessionmaker[Session],
                  on_commit: Callable[[], None] | None = None) -> PollScheduler:
        """A scheduler for the sources in a pollers file."""
        return cls(PollersConfig.load(path), sessions=sessions, on_commit=on_commit)

    def _load_last_runs(self) -> None:
        with transaction(self._sessions) as session:
            cursors = CursorRepository(session).all()
        for name, cursor in cursors.items():
            if cursor.last_run_at is not None and name not in self._last:
                self._last[name] = cursor.last_run_at.timestamp()

    def next_due(self, source: SourceConfig) -> float:
        """When ``source`` should run next (epoch seconds)."""
        last = self._last.get(source.name)
        if last is None:
            return 0.0
        failures = self._failures.get(source.name, 0)
        period = min(source.every, 60.0 * 2 ** (failures - 1)) if failures else source.every
        return last + period

    def run_due(self) -> list[PollSummary]:
        """Run every source that is due now."""
        self._load_last_runs()
        done: list[PollSummary] = []
        for source in self.config.sources:
            if self.next_due(source) <= self._clock():
                summary = poll_once(source, sessions=self._sessions, api_factory=self._api_factory,
                                    on_commit=self._on_commit)
                self._last[source.name] = self._clock()
                self._failures[source.name] = self._failures.get(source.name, 0) + 1 if summary.error else 0
                done.append(summary)
        return done

    def run(self, stop: threading.Event) -> None:
        """Schedule until ``stop`` is set."""
        while not stop.is_set():
            try:
                self.run_due()
            except Exception as exc:  # the database is unavailable: try again shortly
                log.warning("poll round failed", extra={"error": repr(exc)})
            upcoming = min((self.next_due(s) for s in self.config.sources), default=self._clock() + MAX_IDLE_S)
            stop.wait(max(0.5, min(MAX_IDLE_S, upcoming - self._clock())))

