"""A named background thread with a stop flag: how a service runs its consumer or relay beside its API."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundWorker:
    """Runs ``target(stop_event)`` in a thread; restarts it after an unexpected crash."""

    def __init__(self, name: str, target: Callable[[threading.Event], None], *, restart_delay_s: float = 2.0):
        self.name = name
        self._target = target
        self._restart_delay_s = restart_delay_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._target(self._stop)
            except Exception:
                log.exception("worker crashed; restarting", extra={"worker": self.name})
                self._stop.wait(self._restart_delay_s)

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self, timeout_s: float = 20.0) -> None:
        """Ask the worker to finish what it is doing and wait for it (bounded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("worker did not stop in time", extra={"worker": self.name, "timeout_s": timeout_s})
