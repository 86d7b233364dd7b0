"""HubSpot CRM webhooks (contact, company and deal changes) → customer events.

Signed with ``X-HubSpot-Signature-v3`` = base64(HMAC-SHA256(method + URI + body + timestamp)) keyed by
the app's client secret, with ``X-HubSpot-Request-Timestamp`` in milliseconds; requests older than five
minutes are refused (https://developers.hubspot.com/docs/api/webhooks/validating-requests). A call carries
an array of events (``eventId``, ``subscriptionType``, ``objectId``, ``propertyName``, ``propertyValue``,
``occurredAt`` ...). Mapping: ``*.creation`` → created; a contact or company property change → updated (owner,
segment, revenue picked out).

Deals name no customer and carry no value in the webhook, only the deal's id. With ``LP_HUBSPOT_ACCESS_TOKEN``
set, a deal's ``dealstage`` or ``amount`` change is queued as an envelope and the fetch worker reads the deal
(``GET /crm/v3/objects/deals/{id}`` with ``amount`` history) and its associations (CRM v4:
``GET /crm/v4/objects/deals/{id}/associations/companies``, then ``.../contacts``) to make the customer event:

* moved to closed won → ``purchase`` (``dealtype`` newbusiness or unset) or ``upgrade`` (existingbusiness), with
  ``value_delta`` = +amount;
* moved to closed lost → ``cancellation`` (churn) with ``value_delta`` = -amount for an existing-business (renewal)
  deal; a lost new-business deal was never a customer's revenue and yields nothing;
* the amount of a closed-won deal changed → ``upgrade`` / ``downgrade`` by the difference from the previous amount;
* the customer is the associated company (the ``Primary`` one first), else the associated contact.

Without a token, deals are mapped from the webhook alone as before (``deal:{id}`` as the customer, closed won →
purchase without value).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError

from services.ingest.intake.schemas import FetchRequest
from services.ingest.provider_api import ProviderApi, ProviderApiError
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters.base import (
    Normalised,
    PayloadRejected,
    ProviderAdapter,
    as_object,
    parse_time,
    secret_bytes,
)
from services.ingest.webhooks.signatures import SignatureScheme, method_url_body_timestamp
from shared.contracts import CustomerEvent, CustomerEventKind, CustomerRef, utcnow

OWNER_PROPERTIES = frozenset({"hubspot_owner_id"})
SEGMENT_PROPERTIES = frozenset({"customer_segment", "segment", "hs_segment", "type", "industry"})
VALUE_PROPERTIES = frozenset({"annualrevenue", "total_revenue", "hs_arr", "amount", "hs_mrr"})
OBJECT_TYPES = {"0-1": "contact", "0-2": "company", "0-3": "deal"}
DEAL_VALUE_CHANGES = frozenset({"dealstage", "amount"})
DEAL_PROPERTIES = "amount,dealstage,dealtype,deal_currency_code,hs_is_closed_won,hs_is_closed,closedate,dealname"


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
        fetches: list[FetchRequest] = []
        resolve_deals = secret_bytes(settings.hubspot_access_token) is not None
        for raw in events:
            if not isinstance(raw, dict):
                raise PayloadRejected("unexpected_shape", "each HubSpot event must be a JSON object")
            if resolve_deals and _object_type(raw) == "deal":
                fetch = self._deal_fetch(raw)
                if fetch is not None:
                    fetches.append(fetch)
                continue
            event = self._event(raw)
            if event is not None:
                out.append(event)
        if not out and not fetches:
            return Normalised(ignored="no contact, company or deal change in the call")
        return Normalised(customer_events=out, fetches=fetches)

    def _deal_fetch(self, raw: dict[str, Any]) -> FetchRequest | None:
        """A deal's stage or amount change, queued to be read with its associations; other deal changes are
        not growth or loss."""
        action = str(raw.get("subscriptionType", "")).partition(".")[2]
        if action != "propertyChange" or raw.get("propertyName") not in DEAL_VALUE_CHANGES:
            return None
        if raw.get("eventId") is None or raw.get("objectId") is None:
            raise PayloadRejected("unexpected_shape", "deal.propertyChange: eventId and objectId are required")
        return FetchRequest(self.name, str(raw["eventId"]), {"event": raw})

    def fetch_customer_events(self, api: ProviderApi, envelope: dict[str, Any],
                              settings: IngestSettings) -> list[CustomerEvent]:
        """Read the deal and its associated company or contact; the growth or loss the change means, if any."""
        token = settings.hubspot_access_token
        if token is None or not token.get_secret_value():
            raise ProviderApiError("LP_HUBSPOT_ACCESS_TOKEN is not set", permanent=True)
        base = settings.hubspot_api_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"}
        raw = as_object(envelope.get("event"))
        deal_id = str(raw.get("objectId"))
        deal = as_object(api.get(f"{base}/crm/v3/objects/deals/{deal_id}", headers=headers,
                                 params={"properties": DEAL_PROPERTIES, "propertiesWithHistory": "amount"}).json())
        change = deal_change(raw, deal)
        if change is None:
            return []
        kind, delta = change
        customer = self._associated_customer(api, base, deal_id, headers)
        properties = as_object(deal.get("properties"))
        currency = str(properties.get("deal_currency_code") or "").upper()
        return [CustomerEvent(
            event_kind=kind, provider=self.name, external_id=str(raw.get("eventId")), customer=customer,
            occurred_at=parse_time(raw.get("occurredAt")) or utcnow(), value_delta=delta,
            currency=currency if len(currency) == 3 else None,
            metadata={"object_type": "deal", "deal_id": deal_id, "deal": properties, **raw},
        )]

    def _associated_customer(self, api: ProviderApi, base: str, deal_id: str,
                             headers: dict[str, str]) -> CustomerRef:
        for to_type in ("companies", "contacts"):
            doc = as_object(api.get(f"{base}/crm/v4/objects/deals/{deal_id}/associations/{to_type}",
                                    headers=headers, params={"limit": 100}).json())
            chosen = primary_association(doc.get("results"))
            if chosen is not None:
                return CustomerRef(id=chosen)
        raise ProviderApiError(f"deal {deal_id} has no associated company or contact to attribute it to",
                               permanent=True)

    def _event(self, raw: dict[str, Any]) -> CustomerEvent | None:
        subscription = str(raw.get("subscriptionType", ""))
        action = subscription.partition(".")[2]
        object_type = _object_type(raw)
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



def _object_type(raw: dict[str, Any]) -> str:
    """contact, company, deal (also from a generic ``object.*`` subscription's ``objectTypeId``), or other."""
    object_type = str(raw.get("subscriptionType", "")).partition(".")[0]
    if object_type == "object":
        return OBJECT_TYPES.get(str(raw.get("objectTypeId")), "other")
    return object_type


def _amount(value: Any) -> float | None:
    try:
        return float(str(value)) if value not in (None, "") else None
    except ValueError:
        return None


def deal_change(raw: dict[str, Any], deal: dict[str, Any]) -> tuple[CustomerEventKind, float | None] | None:
    """The customer event kind and value change a deal's stage or amount change means; None when neither."""
    properties = as_object(deal.get("properties"))
    existing = str(properties.get("dealtype") or "").lower() == "existingbusiness"
    amount = _amount(properties.get("amount"))
    stage = str(raw.get("propertyValue") or "")
    if raw.get("propertyName") == "dealstage":
        won = stage == "closedwon" or (stage == properties.get("dealstage")
                                       and str(properties.get("hs_is_closed_won")).lower() == "true")
        lost = stage == "closedlost" or (stage == properties.get("dealstage") and not won
                                         and str(properties.get("hs_is_closed")).lower() == "true")
        if won:
            return (CustomerEventKind.UPGRADE if existing else CustomerEventKind.PURCHASE), amount
        if lost and existing:
            return CustomerEventKind.CANCELLATION, -amount if amount is not None else None
        return None
    # an amount change: growth or loss only once the deal is won, by the difference from the amount before
    if str(properties.get("hs_is_closed_won")).lower() != "true":
        return None
    history = sorted((h for h in (as_object(deal.get("propertiesWithHistory")).get("amount") or [])
                      if isinstance(h, dict)), key=lambda h: str(h.get("timestamp") or ""), reverse=True)
    new = _amount(raw.get("propertyValue"))
    if new is None:
        new = amount
    before = next((_amount(h.get("value")) for h in history
                   if _amount(h.get("value")) is not None and _amount(h.get("value")) != new), None)
    if new is None or before is None or new == before:
        return None
    delta = new - before
    return (CustomerEventKind.UPGRADE if delta > 0 else CustomerEventKind.DOWNGRADE), delta


def primary_association(results: Any) -> str | None:
    """The id of the associated record labelled ``Primary``, else the first one (CRM v4 association results)."""
    if not isinstance(results, list):
        return None
    rows = [r for r in results if isinstance(r, dict) and r.get("toObjectId") is not None]
    for row in rows:
        if any(isinstance(t, dict) and str(t.get("label") or "").lower() == "primary"
               for t in row.get("associationTypes") or []):
            return str(row["toObjectId"])
    return str(rows[0]["toObjectId"]) if rows else None
