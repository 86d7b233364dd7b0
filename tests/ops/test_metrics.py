"""What every service exposes on /metrics, scraped from the running services after real traffic, checked with
``promtool check metrics`` (when installed) and the same lint rules in Python (always)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from services.catalog import SERVICES
from services.cli.stack import Stack
from shared.bus import EventProducer, OutgoingMessage
from shared.contracts import FEEDBACK_RAW
from tests.ops.conftest import AUTH, scrape, typeform_webhook
from tests.ops.exposition import lint_problems, metric_names, promtool, promtool_problems, samples
from tests.polling import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def traffic(ops_stack: Stack) -> Stack:
    """A webhook that travels the whole pipeline, a rejected one, a 404 and a report, before any scrape."""
    customer = f"C-{uuid.uuid4().hex[:8]}"
    assert typeform_webhook(ops_stack, customer=customer).status_code == 202
    bad = httpx.post(f"{ops_stack['ingest'].url}/v1/webhooks/typeform", content=b"{}",
                     headers={"Typeform-Signature": "sha256=AAAA"}, timeout=10)
    assert bad.status_code == 401
    assert httpx.get(f"{ops_stack['ingest'].url}/no/such/route", timeout=10).status_code == 404
    assert httpx.get(f"{ops_stack['reporting'].url}/v1/stages", headers=AUTH, timeout=10).status_code == 200
    wait_for(lambda: httpx.get(f"{ops_stack['reporting'].url}/v1/feedback", params={"customer": customer},
                               headers=AUTH, timeout=10).json()["items"],
             timeout_s=120, what="the webhook's feedback in reporting")
    return ops_stack


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_exposition_passes_promtool(traffic: Stack, service: str) -> None:
    if promtool() is None:
        pytest.skip("no promtool here and none could be taken from Debian's prometheus package (not Debian, "
                    "not root, or no registry); test_the_exposition_passes_the_lint_rules checks the same rules")
    assert promtool_problems(scrape(traffic, service)) == []


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_exposition_passes_the_lint_rules(traffic: Stack, service: str) -> None:
    assert lint_problems(scrape(traffic, service)) == []


@pytest.mark.parametrize("service", list(SERVICES))
def test_requests_are_counted_and_timed_by_route_template_method_and_status(traffic: Stack, service: str) -> None:
    text = scrape(traffic, service)
    routes = {(s["route"], s["method"], s["status"]) for s, _ in samples(text, "lp_http_requests_total")
              if s["service"] == service}
    assert ("/readyz", "GET", "200") in routes
    timed = {s["route"] for s, _ in samples(text, "lp_http_request_duration_seconds_count")}
    assert "/readyz" in timed
    if service == "ingest":
        assert ("/v1/webhooks/{provider}", "POST", "202") in routes  # the template, not the provider's path
        assert ("/v1/webhooks/{provider}", "POST", "401") in routes
        assert ("unmatched", "GET", "404") in routes


@pytest.mark.parametrize("service", list(SERVICES))
def test_each_dependency_reports_its_readiness(traffic: Stack, service: str) -> None:
    ready = httpx.get(f"{traffic[service].url}/readyz", timeout=10).json()["checks"]
    up = {s["dependency"]: v for s, v in samples(scrape(traffic, service), "lp_dependency_up")
          if s["service"] == service}
    assert up == dict.fromkeys(ready, 1.0)


def test_pipeline_stages_count_items_in_out_and_failed(traffic: Stack) -> None:
    def outcomes(service: str) -> dict[str, float]:
        return {s["outcome"]: v for s, v in samples(scrape(traffic, service), "lp_pipeline_items_total")
                if s["service"] == service}

    ingest, nlp, journey = outcomes("ingest"), outcomes("nlp"), outcomes("journey")
    assert ingest["accepted"] >= 1
    assert ingest["rejected"] >= 1
    assert ingest["published"] >= 1
    for consumer in (nlp, journey):
        assert consumer["in"] >= 1
        assert consumer["processed"] >= 1
        assert {"failed", "dead_lettered"} <= consumer.keys()
    rejections = samples(scrape(traffic, "ingest"), "lp_ingest_rejections_total")
    assert ({"channel": "webhook", "provider": "typeform", "reason": "bad_signature"}, 1.0) in rejections


def test_consumer_lag_is_reported_per_group_and_partition(traffic: Stack) -> None:
    nlp_lag = samples(scrape(traffic, "nlp"), "lp_consumer_lag")
    assert {(s["group"], s["topic"], s["partition"]) for s, _ in nlp_lag} == {
        ("lp-nlp", FEEDBACK_RAW, str(p)) for p in range(3)}
    journey_groups = {s["group"] for s, _ in samples(scrape(traffic, "journey"), "lp_consumer_lag")}
    assert journey_groups == {"lp-journey", "lp-journey-customers"}
    # Everything sent so far was consumed: the lag drains to zero.
    wait_for(lambda: all(v == 0 for _, v in samples(scrape(traffic, "nlp"), "lp_consumer_lag")),
             timeout_s=60, what="nlp lag back to 0")


def test_outbox_backlog_is_exposed_by_ingest_and_journey(traffic: Stack) -> None:
    def drained(service: str) -> bool:
        return samples(scrape(traffic, service), "lp_outbox_backlog") == [({}, 0.0)]

    for service in ("ingest", "journey"):
        wait_for(lambda: drained(service), timeout_s=30, what=f"{service}'s outbox drained")  # noqa: B023


def test_model_inference_is_timed_per_batch_and_per_item(traffic: Stack) -> None:
    names = metric_names(scrape(traffic, "nlp"))
    assert {"lp_nlp_inference_seconds_bucket", "lp_nlp_inference_item_seconds_bucket",
            "lp_nlp_inference_batch_items_bucket"} <= names
    text = scrape(traffic, "nlp")
    [(_, batches)] = samples(text, "lp_nlp_inference_seconds_count")
    [(_, items)] = samples(text, "lp_nlp_inference_item_seconds_count")
    assert items >= batches >= 1


def test_a_poison_message_is_counted_by_group_and_reason(traffic: Stack, ops_broker_bootstrap: str) -> None:
    def dead(text: str) -> float:
        return sum(v for s, v in samples(text, "lp_dead_letters_total")
                   if s == {"group": "lp-nlp", "reason": "invalid_event"})

    before = dead(scrape(traffic, "nlp"))
    producer = EventProducer(ops_broker_bootstrap, client_id="ops-test")
    try:
        producer.publish([OutgoingMessage(FEEDBACK_RAW, "poison", b'{"not": "a cloud event"}')])
    finally:
        producer.close()
    wait_for(lambda: dead(scrape(traffic, "nlp")) == before + 1, timeout_s=60, what="the dead letter counted")
