"""Reporting settings (``LP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field

from services.journey.settings import DEMO_JOURNEY_MAP
from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """What the reporting service reads from the environment."""

    service_name: ClassVar[str] = "reporting"

    port: int = 8084
    journey_map: Path = Field(DEMO_JOURNEY_MAP, description="The journey map, for stage names and order.")
    workers: int = Field(
        1, ge=1, le=64, validation_alias=AliasChoices("LP_REPORTING_WORKERS", "LP_WORKERS"),
        description="uvicorn worker processes of `serve reporting` (LP_REPORTING_WORKERS). Reporting only reads, so "
        "each process serves any request; the report cache and (with memory://) rate limits are per process.",
    )
    threads: int = Field(
        1, ge=1, le=64, validation_alias=AliasChoices("LP_REPORTING_THREADS"),
        description="Requests each worker process computes at once (LP_REPORTING_THREADS); the others queue, first "
        "come first served. A report is Python work under the interpreter's lock: two at once in one process each "
        "take as long as both (docs/reporting.md). Raise it where reports mostly wait on a remote database.",
    )
    pg_parallel_workers: int = Field(
        0, ge=0, le=64, validation_alias=AliasChoices("LP_REPORTING_PG_PARALLEL_WORKERS"),
        description="PostgreSQL only: parallel workers one report query may start (its connections' "
        "max_parallel_workers_per_gather; LP_REPORTING_PG_PARALLEL_WORKERS). 0: none. Reports are many small "
        "reads; a parallel plan's start-up cost several times their run time on the bench (docs/reporting.md).",
    )
    page_size_max: int = Field(200, ge=1, le=1000)
    report_cache_s: float = Field(10.0, ge=0, description="How long computed reports are reused (0: off).")
    rate_limit: str = Field("600/minute", description="Requests per key, e.g. 600/minute or 20/second.")
    rate_limit_storage: str = Field("memory://", description="Where limits are counted: memory:// per process, "
                                    "or redis://host:6379 shared by replicas.")
