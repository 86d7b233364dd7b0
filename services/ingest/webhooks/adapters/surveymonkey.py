"""SurveyMonkey ``response_completed`` webhooks: an envelope, then the response from the API.

The callback is signed with ``Sm-Signature``: base64 HMAC-SHA1 of the raw body keyed by
``<client id>&<api secret>`` (and names the app in ``Sm-Apikey``). Its body is only an envelope
(``object_id`` = the response id, ``resources.survey_id``), so the adapter queues a fetch; the fetch worker
then reads ``GET /v3/surveys/{survey_id}/responses/{id}/details`` and the survey's ``/details`` (question
headings and choices) and maps them: one item per free-text answer, NPS from an 11-point 0-10 question,
other scores from ``LP_SCORE_FIELDS``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from services.ingest.feedback.schemas import FeedbackCreate
from services.ingest.intake.schemas import FetchRequest
from services.ingest.provider_api import ProviderApi, ProviderApiError
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters.base import (
    Normalised,
    PayloadRejected,
    ProviderAdapter,
    as_object,
    customer_ref,
    parse_time,
    require_mapping,
    score_kind,
    score_value,
    shaped,
    survey_items,
)
from services.ingest.webhooks.signatures import SignatureScheme, body_only

ID_VARIABLES = ("customer_id", "user_id", "account_id", "id")


class SurveyMonkeyAdapter(ProviderAdapter):
    """SurveyMonkey completed responses → survey feedback (fetched)."""

    name: ClassVar[str] = "surveymonkey"
    scheme: ClassVar[SignatureScheme] = SignatureScheme(
        name="surveymonkey", location="sm-signature", digest="sha1", encoding="base64", message=body_only,
    )

    def secret(self, settings: IngestSettings) -> bytes | None:
        if not settings.surveymonkey_api_key or settings.surveymonkey_api_secret is None:
            return None
        secret = settings.surveymonkey_api_secret.get_secret_value()
        return f"{settings.surveymonkey_api_key}&{secret}".encode() if secret else None

    def normalise(self, payload: Any, settings: IngestSettings) -> Normalised:
        doc = require_mapping(payload, "the webhook body")
        if doc.get("event_type") != "response_completed":
            return Normalised(ignored=f"event_type {doc.get('event_type')!r} is not response_completed")
        resources = as_object(doc.get("resources"))
        response_id = doc.get("object_id")
        survey_id = resources.get("survey_id")
        if not response_id or not survey_id:
            raise PayloadRejected("unexpected_shape", "object_id and resources.survey_id are required")
        envelope = {"survey_id": str(survey_id), "response_id": str(response_id), "event": dict(doc)}
        return Normalised(fetches=[FetchRequest(self.name, str(response_id), envelope)])

    def fetch(self, api: ProviderApi, envelope: dict[str, Any], settings: IngestSettings) -> list[FeedbackCreate]:
        token = settings.surveymonkey_access_token
        if token is None or not token.get_secret_value():
            raise ProviderApiError("LP_SURVEYMONKEY_ACCESS_TOKEN is not set", permanent=True)
        base = settings.surveymonkey_api_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
        survey_id, response_id = envelope["survey_id"], envelope["response_id"]
        response = api.get(f"{base}/v3/surveys/{survey_id}/responses/{response_id}/details", headers=headers).json()
        survey = api.get(f"{base}/v3/surveys/{survey_id}/details", headers=headers).json()
        return self.map_response(response, survey, settings)

    @shaped("a SurveyMonkey response")
    def map_response(self, response: dict[str, Any], survey: dict[str, Any],
                     settings: IngestSettings) -> list[FeedbackCreate]:
        """A response (``/details``) with its survey's structure → feedback items."""
        questions: dict[str, dict[str, Any]] = {}
        for page in survey.get("pages") or []:
            for question in page.get("questions") or []:
                questions[str(question.get("id"))] = question
        texts: list[tuple[str, str, dict[str, Any]]] = []
        scores: dict[str, Any] = {}
        for page in response.get("pages") or []:
            for answered in page.get("questions") or []:
                question_id = str(answered.get("id"))
                question = questions.get(question_id, {})
                choices = {str(c.get("id")): c for c in (question.get("answers") or {}).get("choices") or []}
                heading = _heading(question)
                kind = score_kind(settings, self.name, question_id) or ("nps" if _is_nps(choices) else None)
                for answer in answered.get("answers") or []:
                    choice = choices.get(str(answer.get("choice_id")))
                    if kind is not None and choice is not None:
                        raw = choice.get("text") if str(choice.get("text", "")).strip().isdigit() \
                            else (choice.get("weight") if choice.get("weight") is not None else choice.get("position"))
                        value = score_value(kind, raw)
                        if value is not None:
                            scores[kind] = value
                        continue
                    text = answer.get("text")
                    if isinstance(text, str) and text.strip() and "choice_id" not in answer:
                        texts.append((question_id, text, {"question": {"id": question_id, "heading": heading,
                                                    "family": question.get("family")}, "answer": answer}))
        variables = as_object(response.get("custom_variables"))
        contact = ((response.get("metadata") or {}).get("contact") or {}) if isinstance(response.get("metadata"),
                                                                                          dict) else {}
        email = as_object(contact.get("email")).get("value")
        customer = customer_ref(id=next((variables[k] for k in ID_VARIABLES if variables.get(k)), None),
                                email=variables.get("email") or email)
        metadata = {
            "survey_id": response.get("survey_id"), "survey_title": survey.get("title"),
            "response_id": response.get("id"), "collector_id": response.get("collector_id"),
            "recipient_id": response.get("recipient_id"), "custom_variables": variables,
            "date_created": response.get("date_created"), "date_modified": response.get("date_modified"),
            "response_status": response.get("response_status"),
        }
        return survey_items(
            provider=self.name, response_id=str(response.get("id")), texts=texts, scores=scores, customer=customer,
            occurred_at=parse_time(response.get("date_modified") or response.get("date_created")), metadata=metadata,
        )


def _heading(question: dict[str, Any]) -> str | None:
    headings = question.get("headings") or []
    if headings and isinstance(headings[0], dict):
        heading = headings[0].get("heading")
        return heading if isinstance(heading, str) else None
    return None


def _is_nps(choices: dict[str, dict[str, Any]]) -> bool:
    """An 11-point scale labelled 0..10 is a Net Promoter question."""
    texts = sorted(str(c.get("text", "")).strip() for c in choices.values())
    return len(choices) == 11 and sorted(texts, key=lambda t: int(t) if t.isdigit() else -1) == [str(n) for n in
                                                                                                   range(11)]
