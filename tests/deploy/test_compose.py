"""docker-compose.yml stays consistent with what the code reads (no Docker engine here, so we parse it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.catalog import SERVICES
from shared.settings import RuntimeMode

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


def test_every_service_runs_from_the_one_image_with_its_serve_command(compose: dict[str, Any]) -> None:
    for name in SERVICES:
        svc = compose["services"][name]
        assert svc["command"] == ["serve", name]
        assert svc["build"]["dockerfile"] == "deploy/Dockerfile"
        assert (ROOT / svc["build"]["dockerfile"]).exists()


def test_ports_match_the_settings_defaults(compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, spec in SERVICES.items():
        svc = compose["services"][name]
        port = spec.settings.model_fields["port"].default
        assert svc["environment"]["LP_PORT"] == str(port)
        assert svc["ports"] == [f"{port}:{port}"]


def test_production_settings_accept_the_compose_environment(compose: dict[str, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name, spec in SERVICES.items():
        env = dict(compose["services"][name]["environment"])
        env["LP_API_KEY"] = "k" * 48  # compose takes these from the operator's environment
        env["LP_IDENTITY_KEY"] = "i" * 48
        env["LP_ADMIN_KEY"] = "a" * 48
        for key, value in env.items():
            monkeypatch.setenv(key, str(value))
        settings = spec.settings()
        assert settings.mode is RuntimeMode.PRODUCTION
        assert settings.kafka_bootstrap == "kafka:9092"
        assert settings.database_url_for(name).startswith("postgresql+psycopg://lp:lp@postgres:5432/")
        assert settings.host == "0.0.0.0"  # noqa: S104 - inside a container


def test_migrations_run_once_before_the_services(compose: dict[str, Any]) -> None:
    assert compose["services"]["migrate"]["command"] == ["db", "upgrade"]
    for name in SERVICES:
        assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_kafka_runs_in_kraft_mode_without_auto_created_topics(compose: dict[str, Any]) -> None:
    env = compose["services"]["kafka"]["environment"]
    assert "controller" in env["KAFKA_PROCESS_ROLES"]
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"  # services create theirs with ensure_topics


def test_monitoring_profile_scrapes_every_service(compose: dict[str, Any]) -> None:
    for name in ("prometheus", "grafana"):
        assert compose["services"][name]["profiles"] == ["monitoring"]
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    job = scrape["scrape_configs"][0]
    assert job["honor_labels"] is True  # the services' own `service` label wins; the target's fills the rest
    labelled = {c["labels"]["service"]: c["targets"] for c in job["static_configs"]}
    assert labelled == {n: [f"{n}:{s.settings.model_fields['port'].default}"] for n, s in SERVICES.items()}
    assert scrape["rule_files"] == ["/etc/prometheus/alerts.yml"]
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    datasource = ROOT / "deploy" / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
    assert yaml.safe_load(datasource.read_text())["datasources"][0]["url"] == "http://prometheus:9090"
