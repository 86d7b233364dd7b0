"""Ingest's own metrics (beside the shared ``lp_pipeline_items_total``), and the one way to record a rejection."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Gauge

from shared.observability.metrics import PIPELINE_ITEMS, BoundedLabel

log = logging.getLogger("services.ingest.rejections")

REJECTIONS = Counter(
    "lp_ingest_rejections_total",
    "Requests, envelopes or rows ingest refused, by channel (api, webhook, import, poll, fetch), provider and reason.",
    ["channel", "provider", "reason"],
)
WEBHOOKS = Counter(
    "lp_ingest_webhooks_total", "Webhook calls answered 2xx, by provider and outcome.", ["provider", "outcome"]
)
FETCHES = Counter(
    "lp_ingest_fetches_total",
    "Provider API fetches of queued envelopes, by provider and outcome (done, retry, failed).",
    ["provider", "outcome"],
)
FETCH_QUEUE = Gauge("lp_ingest_fetch_queue", "Queued envelopes by status (pending, failed).", ["status"])
POLLS = Counter("lp_ingest_polls_total", "Poller runs, by source and outcome (ok, failed).", ["source", "outcome"])
POLLED_ITEMS = Counter(
    "lp_ingest_polled_items_total", "Items pollers fetched, by source and outcome (accepted, duplicate).",
    ["source", "outcome"],
)


_PROVIDER_LABEL = BoundedLabel(limit=50)
"""Provider names come from callers (the generic API, file names of imports): at most 50 series, then "other"."""


def record_rejection(channel: str, provider: str, reason: str, message: str, **context: object) -> None:
    """Count a rejection and log it with its reason (never with secrets or signatures)."""
    REJECTIONS.labels(channel, _PROVIDER_LABEL(provider), reason).inc()
    PIPELINE_ITEMS.labels("ingest", "rejected").inc()
    log.warning("ingest rejected input", extra={"channel": channel, "provider": provider, "reason": reason,
                                                "detail": message[:500], **context})
