"""The Grafana dashboard and the alert rules read only metrics the services really export."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from services.catalog import SERVICES
from services.cli.stack import Stack
from tests.ops.conftest import scrape, typeform_webhook
from tests.ops.exposition import metric_names as exported_names
from tests.ops.exposition import promtool
from tests.ops.promql import metric_names
from tests.polling import wait_for

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "listening-path.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS_GENERATED = frozenset({"up"})
"""Series Prometheus itself adds to every target."""
PANELS = ("Ingest rate", "Rejections", "Request latency p50 / p99", "Pipeline items", "Consumer lag", "Outbox backlog",
          "Dead letters", "Model inference latency", "readiness")


def dashboard() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return doc


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard()["panels"] for t in p.get("targets", ())]


def alert_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def test_promql_names_are_read_from_expressions() -> None:
    expr = ('histogram_quantile(0.99, sum by (service, le) (rate(lp_http_request_duration_seconds_bucket'
            '{route!~"/healthz|lp_fake"}[$__rate_interval]))) > 2 and on(service) up == 0 or vector(1e3)')
    assert metric_names(expr) == {"lp_http_request_duration_seconds_bucket", "up"}


def test_the_dashboard_has_the_panels_operators_need() -> None:
    doc = dashboard()
    assert doc["uid"] == "listening-path"
    titles = " | ".join(p["title"] for p in doc["panels"])
    for wanted in PANELS:
        assert wanted.lower() in titles.lower(), wanted
    for panel in doc["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            assert panel["targets"], panel["title"]
    assert len({p["id"] for p in doc["panels"]}) == len(doc["panels"])


def test_grafana_provisions_the_dashboard_from_the_mounted_folder() -> None:
    provider = yaml.safe_load((ROOT / "deploy/grafana/provisioning/dashboards/listening-path.yaml").read_text())
    path = provider["providers"][0]["options"]["path"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert f"./deploy/grafana/dashboards:{path}:ro" in compose["services"]["grafana"]["volumes"]


def test_the_alert_rules_are_complete() -> None:
    for rule in alert_rules():
        assert rule["alert"].startswith("LP"), rule
        assert rule["labels"]["severity"] in {"page", "ticket"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_promtool_accepts_the_rules_and_their_unit_tests(tmp_path: Path) -> None:
    binary = promtool()
    if binary is None:
        pytest.skip("no promtool here and none could be taken from Debian's prometheus package")
    for args in (["check", "rules", str(ALERTS)], ["test", "rules", str(ALERTS.parent / "alerts_test.yml")]):
        done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    # The Prometheus config as the compose file mounts it: prometheus.yml beside alerts.yml.
    shutil.copy(ROOT / "deploy" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(ALERTS, tmp_path / "alerts.yml")
    config = (tmp_path / "prometheus.yml").read_text().replace("/etc/prometheus/alerts.yml", "alerts.yml")
    (tmp_path / "prometheus.yml").write_text(config)
    done = subprocess.run([binary, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_every_metric_the_dashboard_and_alerts_read_is_exported(ops_stack: Stack) -> None:
    assert typeform_webhook(ops_stack, customer="C-dashboard").status_code == 202
    refused = httpx.post(f"{ops_stack['ingest'].url}/v1/webhooks/typeform", content=b"{}", timeout=10)
    assert refused.status_code == 401  # a rejection, so that lp_ingest_rejections_total has a series
    wait_for(lambda: "lp_nlp_inference_item_seconds_bucket" in exported_names(scrape(ops_stack, "nlp")),
             timeout_s=120, what="nlp to have tagged a batch")
    # Lag series appear once a consumer holds partitions and its periodic refresh ran (every 5 s).
    wait_for(lambda: any("lp_consumer_lag" in exported_names(scrape(ops_stack, name)) for name in ("nlp", "journey")),
             timeout_s=60, what="a consumer to report its lag")
    exported = set().union(*(exported_names(scrape(ops_stack, name)) for name in SERVICES))
    for source, exprs in (("dashboard", dashboard_exprs()), ("alerts", [r["expr"] for r in alert_rules()])):
        for expr in exprs:
            read = metric_names(expr)
            assert read, expr
            missing = read - exported - PROMETHEUS_GENERATED
            assert not missing, f"{source} reads {missing}, which no service exports: {expr}"
