"""Ingest settings (``LP_*``)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    """What the ingest service reads from the environment."""

    service_name: ClassVar[str] = "ingest"

    port: int = 8081
    max_batch_items: int = Field(1000, ge=1, description="Most items one POST may carry.")
    max_body_bytes: int = Field(5_000_000, ge=1024, description="Largest request body accepted.")
    relay_batch_size: int = Field(500, ge=1, description="Outbox rows published per relay round.")
    relay_idle_s: float = Field(0.5, gt=0, description="How long the relay sleeps when the outbox is empty.")
