"""The customer room in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

The page must load with no console errors, draw its charts with data, and change what it shows when a
filter is applied. Screenshots are saved under test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from services.cli.migrate import upgrade_schemas
from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from shared.bus import free_port
from shared.db import create_db_engine, make_session_factory
from tests.conftest import Database
from tests.journey import dataset
from tests.journey.test_customer_story import EMAIL_KEY, apply_all, in_time_order
from tests.polling import wait_for

pytestmark = pytest.mark.integration

KEY = "room-key-0123456789abcdef01234567"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver when they are missing (the machines run as root)."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.fail("chromium is missing: install Debian's `chromium` and `chromium-driver` packages")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, timeout=600)
    subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env,
                   timeout=900)


@pytest.fixture(scope="module")
def server(module_database: Database) -> Iterator[str]:
    settings = ReportingSettings(data_dir=module_database.data_dir, database_url=module_database.url, api_key=KEY,
                                 identity_key=EMAIL_KEY.decode())
    upgrade_schemas(settings, ["journey", "reporting"])
    engine = create_db_engine(settings.database_url_for("journey"))
    apply_all(make_session_factory(engine), in_time_order(dataset.build()))
    engine.dispose()
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None, access_log=False)
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    wait_for(lambda: uv.started, timeout_s=30, what="the reporting server")
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=1600,1200"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    yield driver
    driver.quit()


def console_errors(driver: webdriver.Chrome) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def at_risk_names(driver: webdriver.Chrome) -> list[str]:
    return [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#at-risk li")]


def shown_text(browser: webdriver.Chrome, selector: str) -> str | None:
    """The text of the first element matching ``selector`` on the page now, or None (also while it navigates)."""
    try:
        return next((e.text for e in browser.find_elements(By.CSS_SELECTOR, selector) if e.text), None)
    except StaleElementReferenceException:
        return None


def test_the_room_tells_the_story_and_filters_change_it(server: str, browser: webdriver.Chrome) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(f"{server}/room")
    assert browser.current_url.endswith("/room/login")  # protected: the key comes first
    browser.find_element(By.ID, "key").send_keys("not-a-key")
    browser.find_element(By.ID, "sign-in").click()
    # The click submits a form: wait for the answer's page instead of reading the one the click left behind.
    assert "not valid" in wait_for(lambda: shown_text(browser, ".error"), timeout_s=10, what="the refusal")
    browser.get_log("browser")  # the refused sign-in's 401 is expected; start the console check afresh
    browser.find_element(By.ID, "key").send_keys(KEY)
    browser.find_element(By.ID, "sign-in").click()
    wait_for(lambda: browser.current_url.endswith("/room"), timeout_s=10, what="the sign-in redirect")
    browser.get(f"{server}/room?since=2026-07-01&until=2026-10-31")
    assert "2026-07-01 to 2026-10-31" in browser.find_element(By.TAG_NAME, "header").text
    wait_for(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-charts-rendered"),
             timeout_s=15, what="the charts")
    assert console_errors(browser) == []

    stages = browser.find_elements(By.CSS_SELECTOR, ".journey .stage")
    assert [s.get_attribute("data-stage") for s in stages] == ["discover", "buy", "onboarding", "use", "support",
                                                               "renew"]
    rendered = int(browser.find_element(By.TAG_NAME, "body").get_attribute("data-charts-rendered") or 0)
    assert rendered == 6 + 4 + 1  # a sparkline per stage, a trend per experience, the weekly chart
    assert len(browser.find_elements(By.CSS_SELECTOR, ".uplot canvas")) >= rendered
    points = browser.execute_script(
        "const d = JSON.parse(document.getElementById('room-data').textContent);"
        "return d.trend.volume.reduce((a, b) => a + b, 0);")
    assert points > 0  # the weekly chart has data
    assert browser.find_elements(By.CSS_SELECTOR, ".badge.missed")  # a missed target is visible
    everyone = at_risk_names(browser)
    assert everyone
    browser.save_screenshot(str(ARTIFACTS / "room.png"))

    Select(browser.find_element(By.ID, "segment")).select_by_value("enterprise")
    browser.find_element(By.ID, "apply").click()
    wait_for(lambda: "segment=enterprise" in browser.current_url, timeout_s=10, what="the filtered page")
    enterprise = at_risk_names(browser)
    assert enterprise != everyone
    assert all("enterprise" in line for line in enterprise)
    assert "enterprise" in browser.find_element(By.ID, "at-risk-tile").text
    assert console_errors(browser) == []
    browser.save_screenshot(str(ARTIFACTS / "room-enterprise.png"))
