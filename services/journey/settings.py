"""Journey settings (``LP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings

DEMO_JOURNEY_MAP = Path(__file__).resolve().parent.parent / "demo" / "journey_map.yaml"


class JourneySettings(ServiceSettings):
    """What the journey service reads from the environment."""

    service_name: ClassVar[str] = "journey"

    port: int = 8083
    journey_map: Path = Field(DEMO_JOURNEY_MAP, description="The journey map YAML loaded at start.")
    consumer_batch_size: int = Field(200, ge=1, le=5000)
    consumer_max_wait_ms: int = Field(200, ge=0, le=10_000)
