"""Property tests of every way feedback comes in: provider webhooks, fetched responses, the generic format,
the pollers' page parsers and the CSV/JSONL importer.

Two properties each: (1) arbitrary bytes, and each provider's documented payload with random parts deleted,
replaced or re-typed, never raise anything but the documented refusal (``PayloadRejected``, which the
endpoint turns into a 4xx; ``ValidationError`` for the generic format; a counted rejection for the importer);
(2) valid generated payloads map onto ``Feedback`` records carrying the fields that went in.
``tests/ingest/test_adapters.py`` already throws arbitrary JSON at ``normalise`` and varies a few fields of
each provider; this module adds raw bytes, mutations of whole documents, the fetch mappers, the pollers and
round trips.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.feedback.endpoints import FEEDBACK_BODY
from services.ingest.feedback.schemas import FeedbackBatchCreate, FeedbackCreate
from services.ingest.imports.mapping import load_mapping
from services.ingest.imports.service import ImportError_, run_import
from services.ingest.models import RawFeedback
from services.ingest.pollers.config import SourceConfig
from services.ingest.pollers.sources import Page, PollSource, source_for
from services.ingest.provider_api import ApiResponse
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters import ADAPTERS, Normalised, PayloadRejected
from services.ingest.webhooks.adapters.qualtrics import QualtricsAdapter
from services.ingest.webhooks.adapters.surveymonkey import SurveyMonkeyAdapter
from shared.db import create_db_engine, make_session_factory, upgrade
from tests.conftest import Database
from tests.ingest.provider_server import fixture, fixture_bytes

SETTINGS = IngestSettings(score_fields={"typeform": {"plan": "csat"}, "qualtrics": {"QID3": "csat"}})
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.function_scoped_fixture])
SCALARS = (st.none() | st.booleans() | st.integers(-10**15, 10**15) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=40))
JSONISH: st.SearchStrategy[Any] = st.recursive(
    SCALARS, lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children,
                                                                               max_size=4), max_leaves=16)
# Text that survives validation unchanged (no surrogates, no NUL, something besides whitespace).
WORDS = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=80).filter(
    lambda t: t.strip() == t and bool(t))
IDS = st.text("abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=24)


# -- mutations of a documented payload -------------------------------------------------------------------------


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for n, value in enumerate(doc):
            yield from _paths(value, (*prefix, n))


def _apply(doc: Any, path: tuple[Any, ...], change: str, value: Any) -> Any:
    if not path:
        return value if change != "delete" else {}
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if change == "delete":
        del parent[last]
    else:
        parent[last] = value
    return doc


@st.composite
def mutated(draw: st.DrawFn, original: Any) -> Any:
    """``original`` with one to four parts deleted, replaced by arbitrary JSON, or turned into another type."""
    doc = copy.deepcopy(original)
    for _ in range(draw(st.integers(1, 4))):
        paths = list(_paths(doc))
        path = draw(st.sampled_from(paths))
        change = draw(st.sampled_from(["delete", "replace", "retype"]))
        value = draw(JSONISH) if change == "replace" else draw(SCALARS | st.just([]) | st.just({}))
        try:
            doc = _apply(doc, path, change, value)
        except (KeyError, IndexError, TypeError):
            continue  # the path went away with an earlier change
    return doc


Mapped = Normalised | list[FeedbackCreate]


def refused_or_mapped(call: Callable[[], Mapped]) -> Mapped | None:
    """Run an adapter step: its result, or None when it refused with a reason; anything else fails the test."""
    try:
        return call()
    except PayloadRejected as exc:
        refusal = exc
    assert refusal.reason
    assert refusal.message
    return None


def _to_body(doc: Any) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


WEBHOOK_FIXTURES = {
    "typeform": ["typeform_form_response.json"], "surveymonkey": ["surveymonkey_response_completed.json"],
    "zendesk": ["zendesk_satisfaction_rating.json"], "hubspot": ["hubspot_events.json"],
    "salesforce": ["salesforce_account_change.json", "salesforce_opportunity_change.json"],
}
WEBHOOK_DOCS = [(p, fixture(f)) for p, files in sorted(WEBHOOK_FIXTURES.items()) for f in files]
QUALTRICS_FORM = dict(item.split("=", 1) for item in fixture_bytes("qualtrics_completed_response.form").decode()
                      .split("&"))


@PROPERTY
@given(provider=st.sampled_from(sorted(ADAPTERS)), body=st.binary(max_size=400),
       content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", ""]))
def test_any_bytes_are_parsed_or_refused(provider: str, body: bytes, content_type: str) -> None:
    adapter = ADAPTERS[provider]

    refused_or_mapped(lambda: adapter.read(body, content_type, SETTINGS))


@PROPERTY
@given(data=st.data(), case=st.sampled_from(WEBHOOK_DOCS))
def test_mutated_provider_documents_map_or_are_refused(data: st.DataObject, case: tuple[str, Any]) -> None:
    provider, original = case
    adapter = ADAPTERS[provider]
    body = _to_body(data.draw(mutated(original)))
    result = refused_or_mapped(lambda: adapter.read(body, "application/json", SETTINGS))
    if isinstance(result, Normalised):
        ids = [i.external_id for i in result.feedback] + [e.external_id for e in result.customer_events]
        assert len(ids) == len(set(ids))


@PROPERTY
@given(form=st.dictionaries(st.sampled_from([*QUALTRICS_FORM, "x"]), st.text(max_size=30), max_size=8))
def test_qualtrics_envelopes_map_or_are_refused(form: dict[str, str]) -> None:
    adapter = ADAPTERS["qualtrics"]
    body = httpx.QueryParams({**QUALTRICS_FORM, **form}).__str__().encode()
    result = refused_or_mapped(lambda: adapter.read(body, "application/x-www-form-urlencoded", SETTINGS))
    if isinstance(result, Normalised) and result.fetches:
        (fetch,) = result.fetches
        assert fetch.envelope["response_id"]
        assert fetch.envelope["survey_id"]


SM_RESPONSE, SM_SURVEY = fixture("surveymonkey_response_details.json"), fixture("surveymonkey_survey_details.json")
QX_RESULT = fixture("qualtrics_response.json")["result"]
QX_ENVELOPE = {"survey_id": "SV_1", "response_id": "R_1", "event": {"Topic": "t", "BrandID": "b"}}


@PROPERTY
@given(data=st.data())
def test_mutated_fetched_responses_map_or_are_refused(data: st.DataObject) -> None:
    sm = SurveyMonkeyAdapter()
    response, survey = data.draw(mutated(SM_RESPONSE)), data.draw(mutated(SM_SURVEY))
    refused_or_mapped(lambda: sm.map_response(response, survey, SETTINGS))
    qx = QualtricsAdapter()
    result = data.draw(mutated(QX_RESULT))
    refused_or_mapped(lambda: qx.map_response(result, QX_ENVELOPE, SETTINGS))


# -- valid generated payloads round-trip -----------------------------------------------------------------------


@PROPERTY
@given(token=IDS, answers=st.lists(st.tuples(IDS, WORDS), min_size=1, max_size=5, unique_by=lambda a: a[0]),
       nps=st.integers(0, 10), customer=IDS)
def test_typeform_responses_round_trip(token: str, answers: list[tuple[str, str]], nps: int, customer: str) -> None:
    doc = fixture("typeform_form_response.json")
    response = doc["form_response"]
    response.update(token=token, hidden={"customer_id": customer}, answers=[
        {"type": "number", "number": nps, "field": {"id": "nps-q", "type": "nps", "ref": "nps"}},
        *({"type": "text", "text": text, "field": {"id": field_id, "type": "long_text", "ref": field_id}}
          for field_id, text in answers),
    ])
    result = ADAPTERS["typeform"].normalise(json.loads(_to_body(doc)), SETTINGS)
    assert [(i.external_id, i.text) for i in result.feedback] == [(f"{token}:{f}", t) for f, t in answers]
    assert result.feedback[0].scores.nps == nps
    assert all(i.customer.id == customer and i.provider == "typeform" and i.source == "survey"
               for i in result.feedback)


@PROPERTY
@given(score=st.sampled_from(["good", "bad", "1", "2", "3", "4", "5"]), comment=st.one_of(st.just(""), WORDS),
       rating_id=st.integers(1, 10**12), ticket_id=st.integers(1, 10**12), external=IDS)
def test_zendesk_ratings_round_trip(score: str, comment: str, rating_id: int, ticket_id: int, external: str) -> None:
    doc = {"satisfaction_rating": {"id": rating_id, "ticket_id": ticket_id, "score": score, "comment": comment,
                                   "created_at": "2026-11-02T10:00:00Z"}, "requester": {"external_id": external}}
    (item,) = ADAPTERS["zendesk"].normalise(doc, SETTINGS).feedback
    assert item.scores.csat == {"good": 5, "bad": 1}.get(score, int(score) if score.isdigit() else 0)
    assert (item.text, item.external_id, item.customer.id) == (comment, f"{ticket_id}:{rating_id}", external)
    assert item.occurred_at is not None
    assert item.occurred_at.isoformat() == "2026-11-02T10:00:00+00:00"


@PROPERTY
@given(events=st.lists(st.fixed_dictionaries({
    "eventId": st.integers(1, 10**12), "objectId": st.integers(1, 10**12),
    "subscriptionType": st.sampled_from(["contact.creation", "company.creation"]),
    "occurredAt": st.integers(1_600_000_000_000, 1_900_000_000_000)}), min_size=1, max_size=6,
    unique_by=lambda e: e["eventId"]))
def test_hubspot_creations_round_trip(events: list[dict[str, Any]]) -> None:
    result = ADAPTERS["hubspot"].normalise(json.loads(json.dumps(events)), SETTINGS)
    got = [(e.external_id, e.customer.id, e.event_kind.value, int(e.occurred_at.timestamp() * 1000))
           for e in result.customer_events]
    assert got == [(str(e["eventId"]), str(e["objectId"]), "created", e["occurredAt"]) for e in events]


@PROPERTY
@given(records=st.lists(IDS, min_size=1, max_size=4, unique=True), revenue=st.floats(0, 1e9, allow_nan=False),
       replay=st.integers(1, 10**9))
def test_salesforce_account_changes_round_trip(records: list[str], revenue: float, replay: int) -> None:
    doc = fixture("salesforce_account_change.json")
    doc["data"]["event"]["replayId"] = replay
    payload = doc["data"]["payload"]
    payload["ChangeEventHeader"].update(recordIds=records, changeType="UPDATE", entityName="Account")
    payload["AnnualRevenue"] = revenue
    events = ADAPTERS["salesforce"].normalise(doc, SETTINGS).customer_events
    assert [e.customer.id for e in events] == records
    assert all(e.value == revenue and e.event_kind.value == "updated" for e in events)
    assert len({e.external_id for e in events}) == len(records)


@PROPERTY
@given(response_id=IDS, texts=st.lists(WORDS, min_size=1, max_size=4), customer=IDS)
def test_qualtrics_fetched_responses_round_trip(response_id: str, texts: list[str], customer: str) -> None:
    values: dict[str, Any] = {f"QID{n + 10}_TEXT": text for n, text in enumerate(texts)}
    values.update(externalDataReference=customer, QID1=9, QID1_NPS_GROUP=3, endDate="2026-11-02T16:00:00Z")
    items = QualtricsAdapter().map_response({"responseId": response_id, "values": values}, QX_ENVELOPE, SETTINGS)
    assert [(i.external_id, i.text) for i in items] == [(f"{response_id}:QID{n + 10}_TEXT", t)
                                                        for n, t in enumerate(texts)]
    assert items[0].scores.nps == 9
    assert all(i.customer.id == customer for i in items)


@PROPERTY
@given(answers=st.lists(WORDS, min_size=1, max_size=4), customer=IDS)
def test_surveymonkey_fetched_responses_round_trip(answers: list[str], customer: str) -> None:
    survey = {"title": "s", "pages": [{"questions": [{"id": f"q{n}", "family": "open_ended",
                                                      "headings": [{"heading": f"Question {n}"}]}
                                                     for n in range(len(answers))]}]}
    response = {"id": "r-1", "survey_id": "s-1", "custom_variables": {"customer_id": customer},
                "date_modified": "2026-11-02T21:56:30+00:00",
                "pages": [{"questions": [{"id": f"q{n}", "answers": [{"text": text}]}
                                         for n, text in enumerate(answers)]}]}
    items = SurveyMonkeyAdapter().map_response(response, survey, SETTINGS)
    assert [(i.external_id, i.text, i.metadata["question"]["heading"]) for i in items] == [
        (f"r-1:q{n}", t, f"Question {n}") for n, t in enumerate(answers)]
    assert all(i.customer.id == customer for i in items)


# -- the generic format ----------------------------------------------------------------------------------------

GENERIC_ITEM = st.fixed_dictionaries(
    {"provider": st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,20}", fullmatch=True), "text": WORDS},
    optional={"source": st.sampled_from(["survey", "support", "crm", "social", "review", "other"]),
              "kind": st.sampled_from(["aided", "unaided"]), "external_id": IDS,
              "customer": st.fixed_dictionaries({}, optional={"id": IDS, "handle": IDS}),
              "scores": st.fixed_dictionaries({}, optional={"nps": st.integers(0, 10), "csat": st.integers(1, 5),
                                                            "ces": st.integers(1, 7)}),
              "occurred_at": st.datetimes(timezones=st.just(UTC)).map(
                  lambda d: d.replace(microsecond=0).isoformat()),
              "metadata": st.dictionaries(IDS, st.integers() | WORDS, max_size=3)})


@PROPERTY
@given(body=st.one_of(st.binary(max_size=300), JSONISH.map(_to_body), GENERIC_ITEM.flatmap(mutated).map(_to_body)))
def test_the_generic_format_validates_or_refuses(body: bytes) -> None:
    try:
        FEEDBACK_BODY.validate_json(body)
    except ValidationError as exc:
        errors = exc.errors()
        assert errors, "a refusal names at least one reason"


@PROPERTY
@given(doc=GENERIC_ITEM)
def test_the_generic_format_round_trips(doc: dict[str, Any]) -> None:
    item = FEEDBACK_BODY.validate_json(json.dumps(doc))
    assert isinstance(item, FeedbackCreate)
    dumped = item.model_dump(mode="json", exclude_unset=True)
    for key in ("provider", "text", "external_id", "kind", "source", "metadata"):
        assert dumped.get(key) == doc.get(key)
    assert {k: v for k, v in dumped.get("scores", {}).items() if v is not None} == doc.get("scores", {})
    batch = FEEDBACK_BODY.validate_json(json.dumps({"items": [doc, doc]}))
    assert isinstance(batch, FeedbackBatchCreate)
    assert batch.items == [item, item]


# -- pollers ---------------------------------------------------------------------------------------------------

POLL_CONFIGS = {
    "trustpilot": SourceConfig(name="tp", kind="trustpilot", business_unit_id="bu1"),
    "appstore": SourceConfig(name="ios", kind="appstore", app_id="1"),
    "googleplay": SourceConfig(name="android", kind="googleplay", package_name="com.x"),
    "reddit": SourceConfig(name="reddit", kind="reddit", subreddit="x"),
    "mastodon": SourceConfig(name="masto", kind="mastodon", instance="https://m.example", hashtag="x"),
    "rss": SourceConfig(name="feed", kind="rss", url="https://feed.example/rss"),
}
POLL_FIXTURES = {"trustpilot": "trustpilot_reviews_page1.json", "appstore": "appstore_customer_reviews.json",
                 "googleplay": "googleplay_reviews.json", "reddit": "reddit_new.json",
                 "mastodon": "mastodon_tag_timeline.json"}
FEEDS = [fixture_bytes("rss_feed.xml"), fixture_bytes("atom_feed.xml")]


def page(kind: str, content: bytes, content_type: str = "application/json") -> Page | None:
    """Parse one response as ``kind``'s source would: the page, or None when it was refused with a reason."""
    source: PollSource = source_for(POLL_CONFIGS[kind])
    response = ApiResponse(200, httpx.Headers({"content-type": content_type}), content, "https://api.example/x")
    try:
        parsed = source.read(response, {})
    except PayloadRejected as exc:
        refusal = exc
        assert refusal.reason, "a refusal says why"
        return None
    for item in parsed.items:
        assert item.provider == kind
        assert item.kind == "unaided"
    return parsed


@PROPERTY
@given(kind=st.sampled_from(sorted(POLL_CONFIGS)), content=st.binary(max_size=300))
def test_any_bytes_from_a_provider_are_parsed_or_refused(kind: str, content: bytes) -> None:
    page(kind, content)


@PROPERTY
@given(data=st.data(), kind=st.sampled_from(sorted(POLL_FIXTURES)))
def test_mutated_provider_pages_are_parsed_or_refused(data: st.DataObject, kind: str) -> None:
    page(kind, _to_body(data.draw(mutated(fixture(POLL_FIXTURES[kind])))))


@PROPERTY
@given(feed=st.sampled_from(FEEDS), cut=st.integers(0, 4000), junk=st.binary(max_size=40))
def test_broken_feeds_are_parsed_or_refused(feed: bytes, cut: int, junk: bytes) -> None:
    page("rss", feed[:cut] + junk + feed[cut:], "application/rss+xml")


REVIEW = st.fixed_dictionaries({"id": IDS, "text": WORDS, "stars": st.integers(1, 5), "author": IDS,
                                "seconds": st.integers(1_600_000_000, 1_900_000_000)})


def _review_page(kind: str, reviews: list[dict[str, Any]]) -> Any:
    def stamp(r: dict[str, Any]) -> str:
        return datetime.fromtimestamp(r["seconds"], UTC).isoformat()

    if kind == "trustpilot":
        return {"reviews": [{"id": r["id"], "text": r["text"], "stars": r["stars"], "createdAt": stamp(r),
                             "consumer": {"displayName": r["author"]}} for r in reviews]}
    if kind == "appstore":
        return {"data": [{"id": r["id"], "attributes": {"body": r["text"], "rating": r["stars"],
                                                        "reviewerNickname": r["author"], "createdDate": stamp(r)}}
                         for r in reviews]}
    if kind == "googleplay":
        return {"reviews": [{"reviewId": r["id"], "authorName": r["author"], "comments": [{"userComment": {
            "text": r["text"], "starRating": r["stars"], "lastModified": {"seconds": str(r["seconds"])}}}]}
            for r in reviews]}
    if kind == "reddit":
        return {"data": {"children": [{"data": {"name": r["id"], "id": r["id"], "selftext": r["text"],
                                                "author": r["author"], "created_utc": r["seconds"]}}
                                      for r in reviews]}}
    return [{"id": r["id"], "uri": r["id"], "content": json.dumps(r["text"])[1:-1].replace("<", "&lt;"),
             "account": {"acct": r["author"]}, "created_at": stamp(r)} for r in reviews]


@PROPERTY
@given(kind=st.sampled_from(sorted(POLL_FIXTURES)), reviews=st.lists(REVIEW, min_size=1, max_size=4,
                                                                     unique_by=lambda r: r["id"]))
def test_generated_provider_pages_round_trip(kind: str, reviews: list[dict[str, Any]]) -> None:
    if kind == "mastodon":
        assume(all(r["text"] == json.dumps(r["text"])[1:-1] and "&" not in r["text"] for r in reviews))
    parsed = page(kind, _to_body(_review_page(kind, reviews)))
    assert parsed is not None
    assert [i.external_id for i in parsed.items] == [r["id"] for r in reviews]
    assert [" ".join(i.text.split()) for i in parsed.items] == [" ".join(r["text"].split()) for r in reviews]
    handles = [i.customer.handle for i in parsed.items]
    assert all(r["author"] in (h or "") for r, h in zip(reviews, handles, strict=True))
    assert [int(i.occurred_at.timestamp()) if i.occurred_at else None for i in parsed.items] == [
        r["seconds"] for r in reviews]
    if kind not in ("reddit", "mastodon"):
        assert [i.scores.rating for i in parsed.items] == [r["stars"] for r in reviews]


# -- the importer ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sessions(module_database: Database) -> Iterator[sessionmaker[Session]]:
    engine = create_db_engine(module_database.url_for("ingest"))
    upgrade("ingest", Path(__file__).resolve().parents[2] / "services" / "ingest" / "migrations",
            module_database.url_for("ingest"))
    yield make_session_factory(engine)
    engine.dispose()


@settings(PROPERTY, max_examples=25)
@given(content=st.binary(max_size=600) | st.lists(JSONISH.map(_to_body), max_size=6).map(b"\n".join),
       fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_file_is_imported_or_rejected_row_by_row(sessions: sessionmaker[Session], tmp_path_factory:
                                                     pytest.TempPathFactory, content: bytes, fmt: str) -> None:
    path = tmp_path_factory.mktemp("hostile") / f"export.{fmt}"
    path.write_bytes(content)
    try:
        summary = run_import(path, sessions=sessions, mapping=load_mapping(defaults={"provider": "fuzz"}))
    except ImportError_ as exc:
        reason = str(exc)  # a file that cannot be read at all (a CSV without a usable header) says why
        assert reason
        return
    assert summary.finished
    assert all(r.reason for r in summary.rejections)
    assert summary.accepted + summary.duplicates + summary.rejected <= max(1, content.count(b"\n") + 1)


@settings(PROPERTY, max_examples=20)
@given(docs=st.lists(GENERIC_ITEM, min_size=1, max_size=8))
def test_jsonl_exports_round_trip(sessions: sessionmaker[Session], tmp_path_factory: pytest.TempPathFactory,
                                  docs: list[dict[str, Any]]) -> None:
    directory = tmp_path_factory.mktemp("jsonl")
    docs = [{**d, "provider": "rt", "external_id": f"{directory.name}-{n}"} for n, d in enumerate(docs)]
    path = directory / "export.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    summary = run_import(path, sessions=sessions, mapping=load_mapping(defaults={"provider": "import"}))
    assert (summary.accepted, summary.rejected) == (len(docs), 0), summary.rejections
    with sessions() as session:
        rows = {r.external_id: r for r in session.scalars(select(RawFeedback).where(
            RawFeedback.external_id.in_([d["external_id"] for d in docs])))}
    for doc in docs:
        stored = rows[doc["external_id"]].normalised
        assert (stored["text"], stored["provider"]) == (doc["text"], "rt")
        assert stored["metadata"] == doc.get("metadata", {})
        for score, value in doc.get("scores", {}).items():
            assert stored["scores"][score] == value
        if "customer" in doc and "id" in doc["customer"]:
            assert stored["customer"]["id"] == doc["customer"]["id"]
