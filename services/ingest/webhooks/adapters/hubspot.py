"""HubSpot CRM webhooks (contact, company and deal changes) → customer events.

Signed with ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(method + URI + body + timestamp)) keyed by
the app's client secret, with ``X-HubSpot-Request-Timestamp`` in milliseconds; requests older than five
minutes are refused (https://developers.hubspot.com/docs/api/webhooks/validating-requests). A call carries
an array of events (``eventId``, ``subscriptionType``, ``objectId``, ``propertyName``, ``propertyValue``,
``occurredAt`` ...). Mapping: ``*.creation`` → created; a property change → updated (owner, segment,
revenue picked out); a deal moved to ``closedwon`` → purchase.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError

from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters.base import (
    Normalised,
    PayloadRejected,
    ProviderAdapter,
    parse_time,
    secret_bytes,
)
from services.ingest.webhooks.signatures import SignatureScheme, method_url_body_timestamp
from shared.contracts import CustomerEvent, CustomerEventKind, CustomerRef, utcnow

OWNER_PROPERTIES = frozenset({"hubspot_owner_id"})
SEGMENT_PROPERTIES = frozenset({"customer_segment", "segment", "hs_segment", "type", "industry"})
VALUE_PROPERTIES = frozenset({"annualrevenue", "total_revenue", "hs_arr", "amount", "hs_mrr"})
OBJECT_TYPES = {"0-1": "contact", "0-2": "company", "0-3": "deal"}


class HubSpotAdapter(ProviderAdapter):
    """HubSpot object changes → CRM customer events."""

    name: ClassVar[str] = "hubspot"
    scheme: ClassVar[SignatureScheme] = SignatureScheme(
        name="hubspot", location="x-hubspot-signature-v3", digest="sha256", encoding="base64",
        message=method_url_body_timestamp, timestamp_header="x-hubspot-request-timestamp",
        timestamp_format="unix_ms",
    )

    def secret(self, settings: IngestSettings) -> bytes | None:
        return secret_bytes(settings.hubspot_client_secret)

    def normalise(self, payload: Any, settings: IngestSettings) -> Normalised:
        events = payload if isinstance(payload, list) else [payload]
        out: list[CustomerEvent] = []
        for raw in events:
            if not isinstance(raw, dict):
                raise PayloadRejected("unexpected_shape", "each HubSpot event must be a JSON object")
            event = self._event(raw)
            if event is not None:
                out.append(event)
        if not out:
            return Normalised(ignored="no contact, company or deal change in the call")
        return Normalised(customer_events=out)

    def _event(self, raw: dict[str, Any]) -> CustomerEvent | None:
        subscription = str(raw.get("subscriptionType", ""))
        object_type, _, action = subscription.partition(".")
        if object_type == "object":
            object_type = OBJECT_TYPES.get(str(raw.get("objectTypeId")), "other")
        if object_type not in {"contact", "company", "deal"}:
            return None
        if raw.get("eventId") is None or raw.get("objectId") is None:
            raise PayloadRejected("unexpected_shape", f"{subscription}: eventId and objectId are required")
        prop, value = raw.get("propertyName"), raw.get("propertyValue")
        fields: dict[str, Any] = {}
        if action == "creation":
            kind = CustomerEventKind.CREATED
        elif action == "propertyChange":
            kind = CustomerEventKind.UPDATED
            if object_type == "deal" and prop == "dealstage" and value == "closedwon":
                kind = CustomerEventKind.PURCHASE
            if prop in OWNER_PROPERTIES:
                fields["owner"] = str(value)
            elif prop in SEGMENT_PROPERTIES and value:
                fields["segment"] = str(value)
            elif prop in VALUE_PROPERTIES:
                try:
                    fields["value"] = float(str(value))
                except (TypeError, ValueError):
                    pass
        else:
            return None  # deletions, merges, restores and association changes are not growth or loss
        # Deals name no customer in the webhook; their id is kept under a deal: prefix until associations are read.
        customer_id = str(raw["objectId"]) if object_type != "deal" else f"deal:{raw['objectId']}"
        try:
            return CustomerEvent(
                event_kind=kind, provider=self.name, external_id=str(raw["eventId"]),
                customer=CustomerRef(id=customer_id), occurred_at=parse_time(raw.get("occurredAt")) or utcnow(),
                metadata={"object_type": object_type, **raw}, **fields,
            )
        except ValidationError as exc:
            raise PayloadRejected("unmappable", f"{subscription}: {exc.errors()[0].get('msg')}") from exc

