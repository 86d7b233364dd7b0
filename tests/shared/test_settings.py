"""Settings: embedded defaults, production refusals, database URL forms."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shared.settings import RuntimeMode, ServiceSettings, SettingsError, normalise_database_url


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests read settings from the environment: start each from none (CI sets DATABASE_URL)."""
    for name in list(os.environ):
        if name.startswith("LP_") or name == "DATABASE_URL":
            monkeypatch.delenv(name)


def test_embedded_defaults_need_no_configuration(tmp_path: Path) -> None:
    settings = ServiceSettings(data_dir=tmp_path)
    assert settings.mode is RuntimeMode.EMBEDDED
    assert settings.database_url_for("ingest") == f"sqlite:///{tmp_path.resolve()}/ingest.db"


def test_database_url_is_read_from_the_platform_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/lp")
    assert ServiceSettings().database_url_for("journey") == "postgresql+psycopg://u:p@db:5432/lp"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://h/db", "postgresql+psycopg://h/db"),
        ("postgres://h/db", "postgresql+psycopg://h/db"),
        ("postgresql+psycopg://h/db", "postgresql+psycopg://h/db"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_url_forms(url: str, expected: str) -> None:
    assert normalise_database_url(url) == expected


def test_production_refuses_missing_or_default_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LP_MODE", "production")
    monkeypatch.setenv("LP_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("DATABASE_URL", "postgresql://h/db")
    with pytest.raises(ValueError, match="LP_API_KEY"):
        ServiceSettings()
    monkeypatch.setenv("LP_API_KEY", "changeme")
    with pytest.raises(ValueError, match="LP_API_KEY"):
        ServiceSettings()
    monkeypatch.setenv("LP_API_KEY", "k" * 32)
    with pytest.raises(ValueError, match="LP_IDENTITY_KEY"):
        ServiceSettings()
    monkeypatch.setenv("LP_IDENTITY_KEY", "i" * 32)
    assert ServiceSettings().mode is RuntimeMode.PRODUCTION


def test_production_refuses_sqlite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LP_MODE", "production")
    monkeypatch.setenv("LP_KAFKA_BOOTSTRAP", "kafka:9092")
    monkeypatch.setenv("LP_API_KEY", "k" * 32)
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    with pytest.raises(ValueError, match="PostgreSQL"):
        ServiceSettings()


def test_missing_broker_says_how_to_get_one() -> None:
    with pytest.raises(SettingsError, match="listening-path up"):
        ServiceSettings().require_bootstrap()
