"""Zendesk satisfaction ratings, posted by a webhook connected to a trigger.

Signed with ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(timestamp + body)) and
``X-Zendesk-Webhook-Signature-Timestamp`` (https://developer.zendesk.com/documentation/webhooks/verifying/);
timestamps outside the replay window are refused. The body is the satisfaction rating as the Satisfaction
Ratings API documents it (``{"satisfaction_rating": {...}}`` or the bare object), which a trigger's JSON
body can produce from placeholders; an optional ``requester`` object (``id``, ``email``, ``external_id``)
identifies the customer. ``good``/``bad`` map to CSAT 5/1; a 1-5 score is kept as is.
"""

from __future__ import annotations

from typing import Any, ClassVar

from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters.base import (
    Normalised,
    PayloadRejected,
    ProviderAdapter,
    as_object,
    build_feedback,
    customer_ref,
    parse_time,
    require_mapping,
    score_value,
    secret_bytes,
)
from services.ingest.webhooks.signatures import SignatureScheme, timestamp_then_body

BINARY_CSAT = {"good": 5, "bad": 1}
NOT_RATED = frozenset({"offered", "unoffered"})


class ZendeskAdapter(ProviderAdapter):
    """Zendesk CSAT ratings → support feedback."""

    name: ClassVar[str] = "zendesk"
    scheme: ClassVar[SignatureScheme] = SignatureScheme(
        name="zendesk", location="x-zendesk-webhook-signature", digest="sha256", encoding="base64",
        message=timestamp_then_body, timestamp_header="x-zendesk-webhook-signature-timestamp",
        timestamp_format="iso8601",
    )

    def secret(self, settings: IngestSettings) -> bytes | None:
        return secret_bytes(settings.zendesk_webhook_secret)

    def normalise(self, payload: Any, settings: IngestSettings) -> Normalised:
        doc = require_mapping(payload, "the webhook body")
        rating = require_mapping(doc.get("satisfaction_rating", doc), "satisfaction_rating")
        score = str(rating.get("score", "")).strip().lower()
        if score in NOT_RATED or not score:
            return Normalised(ignored=f"satisfaction score {score or 'missing'!r} is not a rating")
        csat = BINARY_CSAT.get(score) or score_value("csat", score)
        if csat is None:
            raise PayloadRejected("unmappable", f"satisfaction score {score!r} is neither good/bad nor 1-5")
        rating_id = rating.get("id")
        ticket_id = rating.get("ticket_id")
        if rating_id in (None, "") and ticket_id in (None, ""):
            raise PayloadRejected("unexpected_shape", "satisfaction_rating needs an id or a ticket_id")
        requester = as_object(doc.get("requester"))
        customer = customer_ref(id=requester.get("external_id") or None, email=requester.get("email"))
        external_id = f"{ticket_id}:{rating_id}" if rating_id not in (None, "") else f"ticket:{ticket_id}"
        comment = rating.get("comment")
        item = build_feedback({
            "provider": self.name, "source": "support", "kind": "aided", "external_id": external_id,
            "text": comment if isinstance(comment, str) else "", "customer": customer,
            "scores": {"csat": csat},
            "occurred_at": (parse_time(rating.get("updated_at") or rating.get("created_at")) or None),
            "metadata": {"satisfaction_rating": dict(rating), "requester": requester,
                         **({"ticket": doc["ticket"]} if isinstance(doc.get("ticket"), dict) else {})},
        }, where=f"zendesk rating {external_id}")
        return Normalised(feedback=[item])
