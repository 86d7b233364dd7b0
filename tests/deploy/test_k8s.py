"""deploy/k8s stays consistent with the code: commands, ports, probes, settings, resources, partitions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from services.catalog import SERVICES
from shared.settings import RuntimeMode

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"


def documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def find(kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_a_deployment_with_probes_resources_and_its_port(name: str) -> None:
    deployment = find("Deployment", name)
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["serve", name]
    port = SERVICES[name].settings.model_fields["port"].default
    assert container["ports"][0]["containerPort"] == port
    assert {"name": "LP_PORT", "value": str(port)} in container["env"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["resources"]["requests"]["cpu"]
    assert container["resources"]["limits"]["memory"]
    service = find("Service", name)
    assert service["spec"]["ports"][0]["port"] == port


def test_production_settings_accept_the_config_and_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    config = find("ConfigMap", "listening-path-config")["data"]
    secret = {"DATABASE_URL": "postgresql://lp:pw@postgres:5432/lp", "LP_API_KEY": "a" * 48,
              "LP_ADMIN_KEY": "b" * 48, "LP_IDENTITY_KEY": "c" * 64}  # the keys the README's secret holds
    for key, value in {**config, **secret}.items():
        monkeypatch.setenv(key, value)
    for name, spec in SERVICES.items():
        settings = spec.settings()
        assert settings.mode is RuntimeMode.PRODUCTION, name
    assert "LP_IDENTITY_KEY" in (K8S / "README.md").read_text()


def test_consumers_never_outnumber_partitions() -> None:
    partitions = int(find("ConfigMap", "listening-path-config")["data"]["LP_KAFKA_PARTITIONS"])
    for name in ("nlp", "journey"):
        assert find("Deployment", name)["spec"]["replicas"] <= partitions


def test_migrations_run_as_a_job() -> None:
    job = find("Job", "listening-path-migrate")
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
