"""Keeping the interpreter's own housekeeping off a long-running service's hot path."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 20, 20)
"""Young-generation collections after 20,000 new objects instead of 700: one request allocates thousands (an ingest
batch of 100 items, a report's rows), and each collection also walks the older generations now and then."""


def settle_collector() -> None:
    """Take what the process built at start-up out of the garbage collector's sight, and collect less often.

    The collector walks every tracked object of the generations it collects; what a service builds at start-up
    (modules, SQLAlchemy, pydantic schemas, FastAPI's routes: ~150,000 objects) would be walked again and again by
    the collections a request's allocations trigger, each holding the interpreter's lock, so every request of the
    process waits for it: validating an ingest batch cost 5x its own work (docs/ingest.md), and reporting's search
    p99 fell by 90-140 ms with it on the bench (docs/reporting.md). ``gc.freeze`` moves those
    objects to a generation the collector never walks (they live as long as the process), and the larger
    young-generation threshold runs collections less often; reference cycles are still collected. Call it once the
    service's long-lived parts are built.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
