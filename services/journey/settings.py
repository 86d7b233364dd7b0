"""Journey settings (``LP_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from shared.settings import RuntimeMode, ServiceSettings, SettingsError

DEMO_JOURNEY_MAP = Path(__file__).resolve().parent.parent / "demo" / "journey_map.yaml"


class JourneySettings(ServiceSettings):
    """What the journey service reads from the environment."""

    service_name: ClassVar[str] = "journey"

    port: int = 8083
    journey_map: Path = Field(DEMO_JOURNEY_MAP, description="Journey map YAML stored as a version at start "
                              "when it is newer than the versions already stored.")
    admin_key: SecretStr | None = Field(None, description="Key for changing the journey map and undoing merges.")
    high_value_threshold: float = Field(10_000.0, ge=0, description="Customer value from which a detractor or "
                                        "strongly negative voice raises an alert.")
    reliability_window_days: int = Field(28, ge=1, le=366)
    consumer_batch_size: int = Field(200, ge=1, le=5000)
    consumer_max_wait_ms: int = Field(200, ge=0, le=10_000)

    @model_validator(mode="after")
    def _production_keys(self) -> JourneySettings:
        if self.mode is RuntimeMode.PRODUCTION:
            admin = self.admin_key.get_secret_value() if self.admin_key else ""
            if len(admin) < 24:
                raise SettingsError("LP_ADMIN_KEY must be set to a random value of 24+ characters in production")
        return self
