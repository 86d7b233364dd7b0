"""Salesforce Change Data Capture events for accounts and opportunities → customer events.

Salesforce streams change events (``AccountChangeEvent``, ``OpportunityChangeEvent``) over its Pub/Sub and
Streaming APIs rather than calling webhooks, so a small relay (an Apex trigger on the change event, or a
Pub/Sub subscriber) posts each event's JSON here exactly as delivered (``{"data": {"payload": {...,
"ChangeEventHeader": {...}}, "event": {"replayId": ...}}, "channel": "/data/AccountChangeEvent"}``, or the bare
``payload``), one or a list, signed with ``X-LP-Signature: sha256=<hex HMAC-SHA256 of "timestamp.body">`` and
``X-LP-Timestamp`` (Unix seconds) keyed by ``LP_SALESFORCE_WEBHOOK_SECRET``; the replay window applies.

Mapping: Account CREATE → created, UPDATE → updated (revenue, owner, type as segment); an Opportunity at
``Closed Won`` → purchase, or upgrade / downgrade / renewal by its ``Type``; a renewal ``Closed Lost`` →
cancellation.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ValidationError

from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters.base import (
    Normalised,
    PayloadRejected,
    ProviderAdapter,
    as_object,
    parse_time,
    secret_bytes,
)
from services.ingest.webhooks.signatures import SignatureScheme, timestamp_dot_body
from shared.contracts import CustomerEvent, CustomerEventKind, CustomerRef, utcnow


def _opportunity_kind(stage: str, deal_type: str) -> tuple[CustomerEventKind, int] | None:
    """(kind, sign of the value change) for a closed opportunity."""
    deal_type = deal_type.lower()
    if stage == "closed won":
        if "upgrade" in deal_type or "upsell" in deal_type or "expansion" in deal_type:
            return CustomerEventKind.UPGRADE, 1
        if "downgrade" in deal_type or "contraction" in deal_type:
            return CustomerEventKind.DOWNGRADE, -1
        if "renewal" in deal_type or "replacement" in deal_type:
            return CustomerEventKind.RENEWAL, 0
        return CustomerEventKind.PURCHASE, 1
    if stage == "closed lost" and ("renewal" in deal_type or "existing" in deal_type):
        return CustomerEventKind.CANCELLATION, -1
    return None


class SalesforceAdapter(ProviderAdapter):
    """Salesforce account and opportunity change events → CRM customer events."""

    name: ClassVar[str] = "salesforce"
    scheme: ClassVar[SignatureScheme] = SignatureScheme(
        name="salesforce", location="x-lp-signature", digest="sha256", encoding="hex", prefix="sha256=",
        message=timestamp_dot_body, timestamp_header="x-lp-timestamp", timestamp_format="unix_s",
    )

    def secret(self, settings: IngestSettings) -> bytes | None:
        return secret_bytes(settings.salesforce_webhook_secret)

    def normalise(self, payload: Any, settings: IngestSettings) -> Normalised:
        messages = payload if isinstance(payload, list) else [payload]
        out: list[CustomerEvent] = []
        for message in messages:
            if not isinstance(message, dict):
                raise PayloadRejected("unexpected_shape", "each change event must be a JSON object")
            out.extend(self._events(message))
        if not out:
            return Normalised(ignored="no account or opportunity change that shows growth or loss")
        return Normalised(customer_events=out)

    def _events(self, message: dict[str, Any]) -> list[CustomerEvent]:
        data = as_object(message.get("data"))
        body: dict[str, Any] = as_object(data.get("payload")) or message
        header = body.get("ChangeEventHeader")
        if not isinstance(header, dict):
            raise PayloadRejected("unexpected_shape", "ChangeEventHeader is missing")
        entity = str(header.get("entityName", ""))
        change = str(header.get("changeType", "")).upper().removeprefix("GAP_")
        record_ids = [str(r) for r in header.get("recordIds") or []]
        if not record_ids:
            raise PayloadRejected("unexpected_shape", "ChangeEventHeader.recordIds is empty")
        replay = as_object(data.get("event")).get("replayId")
        base_id = (str(replay) if replay is not None
                   else f"{header.get('transactionKey')}:{header.get('sequenceNumber')}")
        occurred = parse_time(header.get("commitTimestamp")) or utcnow()
        plans: list[tuple[str, CustomerEventKind, dict[str, Any]]] = []
        if entity == "Account" and change in {"CREATE", "UPDATE"}:
            fields: dict[str, Any] = {}
            if body.get("AnnualRevenue") is not None:
                fields["value"] = float(body["AnnualRevenue"])
            if body.get("OwnerId"):
                fields["owner"] = str(body["OwnerId"])
            if body.get("Type"):
                fields["segment"] = str(body["Type"])
            kind = CustomerEventKind.CREATED if change == "CREATE" else CustomerEventKind.UPDATED
            plans = [(record_id, kind, fields) for record_id in record_ids]
        elif entity == "Opportunity" and change in {"CREATE", "UPDATE"}:
            account = body.get("AccountId")
            stage = str(body.get("StageName") or "").lower()
            decided = _opportunity_kind(stage, str(body.get("Type") or ""))
            if account and decided is not None:
                kind, sign = decided
                amount = body.get("Amount")
                fields = {"value_delta": sign * float(amount)} if amount is not None and sign else {}
                if body.get("CurrencyIsoCode"):
                    fields["currency"] = str(body["CurrencyIsoCode"])
                plans = [(str(account), kind, fields)]
        events: list[CustomerEvent] = []
        for n, (customer_id, kind, fields) in enumerate(plans):
            external_id = base_id if len(plans) == 1 else f"{base_id}:{n}"
            try:
                events.append(CustomerEvent(
                    event_kind=kind, provider=self.name, external_id=external_id,
                    customer=CustomerRef(id=customer_id), occurred_at=occurred,
                    metadata={"entity": entity, "change_type": change, "record_ids": record_ids,
                              "channel": message.get("channel"), "payload": body},
                    **fields,
                ))
            except (ValidationError, ValueError) as exc:
                raise PayloadRejected("unmappable", f"{entity} change {external_id}: {exc}") from exc
        return events
