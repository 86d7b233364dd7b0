"""Prometheus metrics every service exposes on ``/metrics``; names are shared so dashboards are uniform."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "lp_http_requests_total", "HTTP requests answered.", ["service", "route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "lp_http_request_duration_seconds",
    "HTTP request latency.",
    ["service", "route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PIPELINE_ITEMS = Counter(
    "lp_pipeline_items_total",
    "Items through a pipeline stage, by outcome (in, processed, failed, dead_lettered, accepted, duplicate, "
    "rejected, published).",
    ["service", "outcome"],
)
CONSUMER_LAG = Gauge("lp_consumer_lag", "Messages not yet consumed, per partition.", ["group", "topic", "partition"])
OUTBOX_BACKLOG = Gauge("lp_outbox_backlog", "Outbox messages committed but not yet published to the broker.")
INFERENCE_LATENCY = Histogram(
    "lp_nlp_inference_seconds",
    "Model inference time per batch.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
