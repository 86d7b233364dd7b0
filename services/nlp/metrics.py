"""The nlp service's own metrics: model inference time per batch and per item."""

from __future__ import annotations

from prometheus_client import Histogram

INFERENCE_LATENCY = Histogram(
    "lp_nlp_inference_seconds",
    "Model inference time per batch (all models over one batch of texts).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
INFERENCE_ITEM_LATENCY = Histogram(
    "lp_nlp_inference_item_seconds",
    "Model inference time per item: each item of a batch counts the batch's time divided by its size.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
INFERENCE_BATCH_ITEMS = Histogram(
    "lp_nlp_inference_batch_items",
    "Items per inference batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)


def record_inference(seconds: float, items: int) -> None:
    """Record one model pass of ``seconds`` over ``items`` texts."""
    INFERENCE_LATENCY.observe(seconds)
    INFERENCE_BATCH_ITEMS.observe(items)
    per_item = seconds / max(1, items)
    for _ in range(items):
        INFERENCE_ITEM_LATENCY.observe(per_item)
