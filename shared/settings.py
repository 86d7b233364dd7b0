"""Settings common to every service; each service subclasses ``ServiceSettings``.

Everything is read from the environment (``LP_*``; ``DATABASE_URL`` is also
accepted, as most platforms set it). Embedded defaults need no configuration;
production mode refuses to start with missing or default secrets.
"""

from __future__ import annotations

import hmac
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class RuntimeMode(StrEnum):
    """Embedded: one machine, SQLite files, bundled broker. Production: PostgreSQL and a Kafka cluster."""

    EMBEDDED = "embedded"
    PRODUCTION = "production"


class SettingsError(ValueError):
    """Settings that cannot run, with the variable to fix."""


INSECURE_KEYS = frozenset({"", "changeme", "change-me", "changeit", "secret", "password", "default", "example",
                           "admin", "dev", "test", "listening-path"})
"""Values production refuses for any secret setting (compared case-insensitively)."""
EMBEDDED_IDENTITY_KEY = "listening-path-embedded-identity-key"


class ServiceSettings(BaseSettings):
    """What every service reads. Subclasses set ``service_name`` and a default ``port``."""

    model_config = SettingsConfigDict(env_prefix="LP_", extra="ignore", populate_by_name=True)

    service_name: ClassVar[str] = "service"

    mode: RuntimeMode = RuntimeMode.EMBEDDED
    data_dir: Path = Field(Path(".listening-path"), description="Where embedded mode keeps its SQLite files.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("LP_DATABASE_URL", "DATABASE_URL"),
        description="SQLAlchemy URL; unset means a SQLite file per service under data_dir.",
    )
    kafka_bootstrap: str | None = Field(None, description="host:port[,host:port]; unset in embedded mode "
                                        "means `listening-path up` starts the bundled broker.")
    kafka_partitions: int = Field(3, ge=1, description="Partitions for topics this service creates.")
    api_key: SecretStr | None = Field(None, description="Key clients send as `X-API-Key` or `Bearer`.")
    identity_key: SecretStr = Field(SecretStr(EMBEDDED_IDENTITY_KEY),
                                    description="Key of the HMAC emails are stored as; keep it stable.")
    host: str = "127.0.0.1"
    port: int = 8080
    log_level: str = "INFO"
    log_json: bool = True

    @model_validator(mode="after")
    def _production_is_explicit(self) -> ServiceSettings:
        if self.mode is RuntimeMode.PRODUCTION:
            if not self.kafka_bootstrap:
                raise SettingsError("LP_KAFKA_BOOTSTRAP must be set in production mode")
            if not self.database_url or self.database_url.startswith("sqlite"):
                raise SettingsError("DATABASE_URL must point at PostgreSQL in production mode")
            key = self.api_key.get_secret_value() if self.api_key else ""
            if key.lower() in INSECURE_KEYS or len(key) < 24:
                raise SettingsError("LP_API_KEY must be set to a random value of 24+ characters in production")
            if hmac.compare_digest(self.identity_key.get_secret_value().encode(), EMBEDDED_IDENTITY_KEY.encode()):
                raise SettingsError("LP_IDENTITY_KEY must be set to a random secret in production mode")
            for name in type(self).model_fields:
                value = getattr(self, name)
                if isinstance(value, SecretStr) and value.get_secret_value() \
                        and value.get_secret_value().strip().lower() in INSECURE_KEYS:
                    raise SettingsError(f"LP_{name.upper()} is a well-known default; set a random secret in production")
        return self

    def database_url_for(self, owner: str) -> str:
        """The database of ``owner`` (a service name): ``DATABASE_URL`` or its own SQLite file."""
        if self.database_url:
            return normalise_database_url(self.database_url)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(self.data_dir / f'{owner}.db').resolve()}"

    def require_bootstrap(self) -> str:
        """The broker address, or a clear error saying how to get one."""
        if not self.kafka_bootstrap:
            raise SettingsError(
                "LP_KAFKA_BOOTSTRAP is not set: run `listening-path up` (starts the bundled broker) "
                "or point LP_KAFKA_BOOTSTRAP at a Kafka cluster"
            )
        return self.kafka_bootstrap


def normalise_database_url(url: str) -> str:
    """Accept the ``postgres://`` and ``postgresql://`` forms platforms hand out; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url
