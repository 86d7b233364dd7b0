"""Property tests of the provider adapters: any document in a provider's shape maps to valid records or is
refused with a reason - never an unexpected exception (which would be a 500)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters import ADAPTERS, Normalised, PayloadRejected
from tests.ingest.provider_server import fixture

SETTINGS = IngestSettings(score_fields={"typeform": {"plan": "csat"}})
JSONISH: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


def normalise(provider: str, payload: Any) -> Normalised | None:
    try:
        result = ADAPTERS[provider].normalise(payload, SETTINGS)
    except PayloadRejected as exc:
        refusal = (exc.reason, exc.message)
        assert all(refusal), "a refusal says why"
        return None
    ids = [i.external_id for i in result.feedback] + [e.external_id for e in result.customer_events]
    assert len(ids) == len(set(ids)), "external ids of one call must be distinct"
    return result


@settings(max_examples=60, deadline=None)
@given(provider=st.sampled_from(sorted(ADAPTERS)), payload=JSONISH)
def test_arbitrary_json_never_crashes_an_adapter(provider: str, payload: Any) -> None:
    normalise(provider, payload)


ANSWER = st.fixed_dictionaries({
    "type": st.sampled_from(["text", "number", "choice", "email", "boolean"]),
    "text": st.text(max_size=40), "number": st.integers(-3, 12), "email": st.text(max_size=20),
    "boolean": st.booleans(), "choice": st.fixed_dictionaries({"label": st.text(max_size=10)}),
    "field": st.fixed_dictionaries({"id": st.text(min_size=1, max_size=6),
                                    "type": st.sampled_from(["short_text", "long_text", "nps", "rating",
                                                             "opinion_scale", "email", "multiple_choice"]),
                                    "ref": st.sampled_from(["plan", "x", "y"])}),
})


@settings(max_examples=80, deadline=None)
@given(answers=st.lists(ANSWER, max_size=8), hidden=st.dictionaries(st.sampled_from(["customer_id", "email", "x"]),
                                                                   st.text(max_size=20), max_size=3))
def test_typeform_responses_map_to_valid_items(answers: list[dict[str, Any]], hidden: dict[str, str]) -> None:
    payload = fixture("typeform_form_response.json")
    payload["form_response"]["answers"] = answers
    payload["form_response"]["hidden"] = hidden
    result = normalise("typeform", payload)
    if result is None or result.ignored:
        return
    assert sum(1 for i in result.feedback if any(v is not None for v in i.scores.model_dump().values())) <= 1
    for item in result.feedback:
        assert item.text.strip() or any(v is not None for v in item.scores.model_dump().values())


@settings(max_examples=60, deadline=None)
@given(score=st.one_of(st.sampled_from(["good", "bad", "offered", "unoffered", "GOOD"]), st.integers(-2, 8).map(str),
                       st.text(max_size=5)), comment=st.one_of(st.none(), st.text(max_size=40)))
def test_zendesk_scores_map_or_are_refused(score: str, comment: str | None) -> None:
    payload = fixture("zendesk_satisfaction_rating.json")
    payload["satisfaction_rating"].update(score=score, comment=comment)
    result = normalise("zendesk", payload)
    if result is not None and result.feedback:
        assert result.feedback[0].scores.csat in {1, 2, 3, 4, 5}


@settings(max_examples=60, deadline=None)
@given(events=st.lists(st.fixed_dictionaries({
    "eventId": st.integers(1, 10**9), "objectId": st.integers(1, 10**12), "occurredAt": st.integers(0, 2 * 10**12),
    "subscriptionType": st.sampled_from(["contact.creation", "contact.propertyChange", "deal.propertyChange",
                                         "company.creation", "contact.deletion", "object.creation", "ticket.creation"]),
    "propertyName": st.sampled_from(["dealstage", "hubspot_owner_id", "annualrevenue", "industry", "email"]),
    "propertyValue": st.one_of(st.text(max_size=12), st.sampled_from(["closedwon", "123.5"])),
    "objectTypeId": st.sampled_from(["0-1", "0-2", "0-3", "2-123"]),
}), max_size=6, unique_by=lambda e: e["eventId"]))
def test_hubspot_events_map_or_are_refused(events: list[dict[str, Any]]) -> None:
    result = normalise("hubspot", events)
    if result is not None:
        for event in result.customer_events:
            assert event.customer.id


@settings(max_examples=60, deadline=None)
@given(stage=st.sampled_from(["Closed Won", "Closed Lost", "Prospecting"]),
       kind=st.sampled_from(["New Customer", "Existing Customer - Upgrade", "Existing Customer - Downgrade",
                             "Renewal", ""]),
       amount=st.one_of(st.none(), st.floats(0, 1e7, allow_nan=False)),
       change=st.sampled_from(["CREATE", "UPDATE", "DELETE", "GAP_UPDATE"]))
def test_salesforce_opportunities(stage: str, kind: str, amount: float | None, change: str) -> None:
    payload = fixture("salesforce_opportunity_change.json")
    body = payload["data"]["payload"]
    body.update(StageName=stage, Type=kind, Amount=amount)
    body["ChangeEventHeader"]["changeType"] = change
    result = normalise("salesforce", payload)
    if result is not None and result.customer_events:
        (event,) = result.customer_events
        assert stage.startswith("Closed")
        if event.value_delta:  # a zero amount has no sign to check
            assert (event.value_delta > 0) == (event.event_kind.value in {"purchase", "upgrade"})
