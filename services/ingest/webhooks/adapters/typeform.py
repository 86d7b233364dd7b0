"""Typeform ``form_response`` webhooks.

Signed with ``Typeform-Signature: sha256=<base64 HMAC-SHA256 of the raw body>`` keyed by the webhook
secret (https://www.typeform.com/developers/webhooks/secure-your-webhooks/). Payload:
https://www.typeform.com/developers/webhooks/example-payload/. One item per free-text answer; NPS
(``nps`` fields), star ratings (``rating``) and any field named in ``LP_SCORE_FIELDS`` become scores.
"""

from __future__ import annotations

from typing import Any, ClassVar

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
    secret_bytes,
    survey_items,
)
from services.ingest.webhooks.signatures import SignatureScheme, body_only

TEXT_FIELDS = frozenset({"short_text", "long_text"})
ID_KEYS = ("customer_id", "user_id", "account_id", "id")
EMAIL_KEYS = ("email", "customer_email", "user_email")


def answer_value(answer: dict[str, Any]) -> Any:
    """The value of one answer, whatever its type."""
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if kind == "choice" and isinstance(value, dict):
        return value.get("label") or value.get("other")
    if kind == "choices" and isinstance(value, dict):
        return [*value.get("labels", []), *([value["other"]] if value.get("other") else [])]
    return value


class TypeformAdapter(ProviderAdapter):
    """Typeform form responses → survey feedback."""

    name: ClassVar[str] = "typeform"
    scheme: ClassVar[SignatureScheme] = SignatureScheme(
        name="typeform", location="typeform-signature", digest="sha256", encoding="base64", prefix="sha256=",
        message=body_only,
    )

    def secret(self, settings: IngestSettings) -> bytes | None:
        return secret_bytes(settings.typeform_secret)

    def normalise(self, payload: Any, settings: IngestSettings) -> Normalised:
        doc = require_mapping(payload, "the webhook body")
        if doc.get("event_type") != "form_response":
            return Normalised(ignored=f"event_type {doc.get('event_type')!r} is not form_response")
        response = require_mapping(doc.get("form_response"), "form_response")
        token = response.get("token") or response.get("response_id")
        if not isinstance(token, str) or not token:
            raise PayloadRejected("unexpected_shape", "form_response.token is missing")
        definition = as_object(response.get("definition"))
        fields = {f.get("id"): f for f in definition.get("fields", []) if isinstance(f, dict)}
        hidden = as_object(response.get("hidden"))

        texts: list[tuple[str, str, dict[str, Any]]] = []
        scores: dict[str, Any] = {}
        email_answer: str | None = None
        for answer in response.get("answers") or []:
            if not isinstance(answer, dict):
                continue
            ref = as_object(answer.get("field"))
            field_id = str(ref.get("id", ""))
            field = fields.get(field_id, {})
            field_type = ref.get("type") or field.get("type")
            value = answer_value(answer)
            kind = score_kind(settings, self.name, field_id, ref.get("ref"))
            if kind is None and field_type == "nps":
                kind = "nps"
            if kind is None and field_type == "rating":
                steps = (field.get("properties") or {}).get("steps", 5)
                if isinstance(value, int | float) and isinstance(steps, int) and steps > 0 and steps != 5:
                    value = round(value * 5 / steps, 2)
                kind = "rating"
            if kind is not None:
                scored = score_value(kind, value)
                if scored is not None:
                    scores[kind] = scored
                continue
            if answer.get("type") == "email" and isinstance(value, str):
                email_answer = value
            if (field_type in TEXT_FIELDS or answer.get("type") == "text") and isinstance(value, str) and value.strip():
                texts.append((field_id, value, {"question": {"id": field_id, "ref": ref.get("ref"),
                                                             "title": field.get("title"), "type": field_type},
                                                "answer": answer}))
        customer = customer_ref(
            id=next((hidden[k] for k in ID_KEYS if hidden.get(k)), None),
            email=next((hidden[k] for k in EMAIL_KEYS if hidden.get(k)), None) or email_answer,
        )
        metadata = {
            "event_id": doc.get("event_id"),
            "form_id": response.get("form_id"),
            "form_title": definition.get("title"),
            "response_token": token,
            "landed_at": response.get("landed_at"),
            "submitted_at": response.get("submitted_at"),
            "hidden": hidden,
            "calculated": response.get("calculated"),
            "variables": response.get("variables"),
        }
        items = survey_items(
            provider=self.name, response_id=token, texts=texts, scores=scores, customer=customer,
            occurred_at=parse_time(response.get("submitted_at")), metadata=metadata,
        )
        if not items:
            return Normalised(ignored="the response has no free-text answer and no score")
        return Normalised(feedback=items)
