"""Reporting settings (``LP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from services.journey.settings import DEMO_JOURNEY_MAP
from shared.settings import ServiceSettings


class ReportingSettings(ServiceSettings):
    """What the reporting service reads from the environment."""

    service_name: ClassVar[str] = "reporting"

    port: int = 8084
    journey_map: Path = Field(DEMO_JOURNEY_MAP, description="The journey map, for stage names and order.")
    page_size_max: int = Field(200, ge=1, le=1000)
    report_cache_s: float = Field(10.0, ge=0, description="How long computed reports are reused (0: off).")
    rate_limit: str = Field("600/minute", description="Requests per key, e.g. 600/minute or 20/second.")
    rate_limit_storage: str = Field("memory://", description="Where limits are counted: memory:// per process, "
                                    "or redis://host:6379 shared by replicas.")
