"""Prometheus metrics every service exposes on ``/metrics``; names are shared so dashboards are uniform.

Conventions (checked by ``promtool check metrics`` in tests/ops): an ``lp_`` prefix, base units in the name
(``_seconds``), ``_total`` on counters, and only bounded label values - a label fed from input goes through a
``BoundedLabel``. Each service's own metrics live in ``services/<svc>/metrics.py``; docs/operations.md lists all.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "lp_http_requests_total", "HTTP requests answered, by route template, method and status.",
    ["service", "route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "lp_http_request_duration_seconds",
    "HTTP request latency, by route template and method (status is on lp_http_requests_total).",
    ["service", "route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
HTTP_CONNECTIONS_REBALANCED = Counter(
    "lp_http_connections_rebalanced_total",
    "Keep-alive connections a worker process ended because it was busier than another (shared/http/balance.py).",
    ["service"],
)
PIPELINE_ITEMS = Counter(
    "lp_pipeline_items_total",
    "Items through a pipeline stage (the service), by outcome: in, processed, failed, dead_lettered (consumers); "
    "accepted, duplicate, rejected (ingest); published (outbox relays).",
    ["service", "outcome"],
)
CONSUMER_LAG = Gauge(
    "lp_consumer_lag",
    "Messages behind, per consumer group and assigned partition: end offset minus the consumer's position.",
    ["group", "topic", "partition"],
)
DEAD_LETTERS = Counter(
    "lp_dead_letters_total",
    "Messages a consumer sent to its dead-letter topic, by group and reason (invalid_event, processing_failed).",
    ["group", "reason"],
)
OUTBOX_BACKLOG = Gauge("lp_outbox_backlog", "Outbox messages committed but not yet published to the broker.")
DEPENDENCY_UP = Gauge(
    "lp_dependency_up",
    "1 when a dependency /readyz checks answers (database, broker, consumers, model...), 0 when it fails; "
    "evaluated at each scrape.",
    ["service", "dependency"],
)


class BoundedLabel:
    """Keeps a label fed from input bounded: the first ``limit`` distinct values pass, later ones read ``other``.

    Provider names, file names and the like come from callers; without a bound each new one would be a new
    series for ever.
    """

    def __init__(self, limit: int = 50, other: str = "other") -> None:
        self.limit = limit
        self.other = other
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        """``value`` itself while the bound allows, else ``other``."""
        if value in self._seen:
            return value
        with self._lock:
            if len(self._seen) < self.limit:
                self._seen.add(value)
                return value
        return self.other


class Every:
    """True at most once per ``interval_s``: bounds the cost of gauges refreshed from a loop (lag, backlog)."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next = 0.0

    def due(self) -> bool:
        """True when the interval has passed since the last time this answered True."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.interval_s
        return True
