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
