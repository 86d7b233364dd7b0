"""``listening-path up``, the README's run command: the whole product with demo data, then a clean stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from services.catalog import SERVICES
from shared.bus import free_port
from tests.polling import wait_for

pytestmark = pytest.mark.integration


def test_up_runs_the_demo_and_a_new_item_shows_up_enriched(tmp_path: Path) -> None:
    ports = {name: free_port() for name in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LP_") and k != "DATABASE_URL"}
    env.update({f"LP_{name.upper()}_PORT": str(port) for name, port in ports.items()})
    env["PYTHONUNBUFFERED"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "up", "--data-dir", str(tmp_path / "data")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(iter(proc.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        wait_for(lambda: any("Press Ctrl-C" in line for line in output) or proc.poll() is not None,
                 timeout_s=240, what="`up` to print where to look")
        text = "".join(output)
        assert proc.poll() is None, text
        key = re.search(r"API key\s+(\S+)", text)
        assert key, text
        headers = {"X-API-Key": key.group(1)}
        reporting = f"http://127.0.0.1:{ports['reporting']}"
        assert f"reporting  {reporting}" in text
        assert "loaded the demo company's feedback" in text
        room = re.search(r"Customer room\s+(\S+)", text)  # what a newcomer opens first
        assert room, text
        assert room.group(1) == f"{reporting}/room"
        page = httpx.get(room.group(1), timeout=10, follow_redirects=True)  # not signed in: the sign-in page
        assert page.status_code == 200
        assert page.url.path == "/room/login"
        assert "<form" in page.text

        def demo_visible() -> int:
            stages = httpx.get(f"{reporting}/v1/stages", params={"since": "2026-01-01", "until": "2026-12-31"},
                               headers=headers, timeout=5).json()["stages"]
            return sum(s["volume"] for s in stages) >= 50 and sum(s["volume"] for s in stages)

        wait_for(demo_visible, timeout_s=120, what="the demo data in reporting")

        ingest = f"http://127.0.0.1:{ports['ingest']}"
        new = httpx.post(f"{ingest}/v1/feedback", headers=headers, timeout=10, json={
            "provider": "web", "source": "survey", "text": "Setup was painful, the invite email never came",
            "customer": {"id": "README-1"}, "scores": {"nps": 4}})
        assert new.status_code == 202

        def enriched() -> list[dict[str, object]]:
            response = httpx.get(f"{reporting}/v1/feedback", params={"customer": "README-1"}, headers=headers,
                                 timeout=5)
            items: list[dict[str, object]] = response.json()["items"]
            return items

        [item] = wait_for(enriched, timeout_s=30, what="the curl'd item in reporting")
        assert item["id"] == new.json()["id"]
        assert item["sentiment"]["label"] == "negative"  # type: ignore[index]

        # The demo data raises alerts, and the consumer example other teams start from prints one.
        alerts = wait_for(lambda: httpx.get(f"{reporting}/v1/alerts", headers=headers, timeout=5).json()["items"],
                          timeout_s=30, what="an alert from the demo data")
        assert alerts[0]["kind"] in {"target_missed", "negative_spike", "high_value_voice", "target_met"}
        bootstrap = re.search(r"^\s+broker\s+(\S+:\d+)$", text, re.MULTILINE)
        assert bootstrap
        example = subprocess.run(
            [sys.executable, "examples/consume_alerts.py", "--bootstrap", bootstrap.group(1), "--from-beginning",
             "--max", "1"], capture_output=True, text=True, timeout=90, check=False,
            cwd=Path(__file__).resolve().parents[2])
        assert example.returncode == 0, example.stderr
        assert re.match(r"\[(info|warning|critical)\] 2026-\d\d-\d\d \w+: .+", example.stdout), example.stdout
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert code == 0, "".join(output)
    assert "stopped." in "".join(output)
