"""Qualtrics event subscriptions (``surveyengine.completedResponse.<SurveyID>``): an envelope, then the response.

Qualtrics posts a form-encoded envelope (``Topic``, ``Status``, ``SurveyID``, ``ResponseID``,
``CompletedDate``, ``BrandID``) and does not sign it, so the subscription's publication URL carries a shared
token (``?token=``) compared in constant time. The fetch worker reads
``GET {LP_QUALTRICS_API_URL}/API/v3/surveys/{SurveyID}/responses/{ResponseID}`` (``X-API-TOKEN``): free-text
answers (``QIDn_TEXT``) become items; a question with a ``QIDn_NPS_GROUP`` value is the NPS question;
``LP_SCORE_FIELDS`` names others; ``externalDataReference`` / ``recipientEmail`` identify the customer.
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
    parse_form,
    parse_json,
    parse_time,
    score_kind,
    score_value,
    secret_bytes,
    shaped,
    survey_items,
)
from services.ingest.webhooks.signatures import SignatureScheme

RESPONSE_FIELDS = ("startDate", "endDate", "recordedDate", "status", "progress", "duration", "finished",
                   "distributionChannel", "userLanguage", "externalDataReference", "recipientEmail")


class QualtricsAdapter(ProviderAdapter):
    """Qualtrics completed responses → survey feedback (fetched)."""

    name: ClassVar[str] = "qualtrics"
    scheme: ClassVar[SignatureScheme] = SignatureScheme(name="qualtrics", location="token", kind="token",
                                                        in_query=True)

    def secret(self, settings: IngestSettings) -> bytes | None:
        return secret_bytes(settings.qualtrics_webhook_token)

    def parse(self, body: bytes, content_type: str) -> Any:
        if "json" in content_type:
            return parse_json(body)
        return parse_form(body)

    def normalise(self, payload: Any, settings: IngestSettings) -> Normalised:
        if not isinstance(payload, dict):
            raise PayloadRejected("unexpected_shape", "the envelope must be a form or a JSON object")
        topic = str(payload.get("Topic", ""))
        if ".completedResponse." not in topic:
            return Normalised(ignored=f"topic {topic!r} is not a completedResponse event")
        survey_id, response_id = payload.get("SurveyID"), payload.get("ResponseID")
        if not survey_id or not response_id:
            raise PayloadRejected("unexpected_shape", "SurveyID and ResponseID are required")
        envelope = {"survey_id": str(survey_id), "response_id": str(response_id), "event": dict(payload)}
        return Normalised(fetches=[FetchRequest(self.name, str(response_id), envelope)])

    def fetch(self, api: ProviderApi, envelope: dict[str, Any], settings: IngestSettings) -> list[FeedbackCreate]:
        token = settings.qualtrics_api_token
        if token is None or not token.get_secret_value() or not settings.qualtrics_api_url:
            raise ProviderApiError("LP_QUALTRICS_API_URL and LP_QUALTRICS_API_TOKEN must be set", permanent=True)
        url = (f"{settings.qualtrics_api_url.rstrip('/')}/API/v3/surveys/{envelope['survey_id']}"
               f"/responses/{envelope['response_id']}")
        body = api.get(url, headers={"X-API-TOKEN": token.get_secret_value()}).json()
        return self.map_response(body.get("result") or {}, envelope, settings)

    @shaped("a Qualtrics response")
    def map_response(self, result: dict[str, Any], envelope: dict[str, Any],
                     settings: IngestSettings) -> list[FeedbackCreate]:
        """A single-response ``result`` → feedback items."""
        values = as_object(result.get("values"))
        labels = as_object(result.get("labels"))
        response_id = str(result.get("responseId") or envelope["response_id"])
        scores: dict[str, Any] = {}
        for key in values:
            if key.endswith("_NPS_GROUP"):
                value = score_value("nps", values.get(key.removesuffix("_NPS_GROUP")))
                if value is not None:
                    scores["nps"] = value
            kind = score_kind(settings, self.name, key)
            if kind is not None:
                value = score_value(kind, values[key])
                if value is not None:
                    scores[kind] = value
        texts = [
            (key, value, {"question": {"id": key.removesuffix("_TEXT")}})
            for key, value in values.items()
            if key.endswith("_TEXT") and isinstance(value, str) and value.strip()
        ]
        customer = customer_ref(id=values.get("externalDataReference"), email=values.get("recipientEmail"))
        metadata = {
            "survey_id": envelope["survey_id"], "response_id": response_id, "topic": envelope["event"].get("Topic"),
            "brand_id": envelope["event"].get("BrandID"),
            **{k: values[k] for k in RESPONSE_FIELDS if k in values},
            "labels": labels,
        }
        return survey_items(
            provider=self.name, response_id=response_id, texts=texts, scores=scores, customer=customer,
            occurred_at=parse_time(values.get("endDate") or values.get("recordedDate")
                                   or envelope["event"].get("CompletedDate")),
            metadata=metadata,
        )
