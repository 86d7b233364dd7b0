"""NLP settings (``LP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from services.journey.settings import DEMO_JOURNEY_MAP
from shared.settings import ServiceSettings


class NlpSettings(ServiceSettings):
    """What the NLP service reads from the environment."""

    service_name: ClassVar[str] = "nlp"

    port: int = 8082
    journey_map: Path = Field(DEMO_JOURNEY_MAP, description="The journey map YAML to tag stages against.")
    consumer_batch_size: int = Field(64, ge=1, le=1024, description="Most items tagged in one model pass.")
    consumer_max_wait_ms: int = Field(100, ge=0, le=10_000,
                                      description="How long a partial batch waits for more items.")
    threads: int | None = Field(None, ge=1, description="Torch threads; default: torch's own choice.")
    analyze_max_texts: int = Field(256, ge=1, le=4096)
