"""Receiving one webhook call: verify → parse → normalise → store (or queue the fetch) → answer."""

from __future__ import annotations

from collections.abc import Mapping

from services.ingest.intake.schemas import Intake, WebhookOutcome
from services.ingest.intake.writer import IntakeWriter
from services.ingest.metrics import WEBHOOKS, record_rejection
from services.ingest.settings import IngestSettings
from services.ingest.webhooks.adapters import PayloadRejected, ProviderAdapter
from services.ingest.webhooks.signatures import SignatureRejected, SignedRequest, verify
from shared.http import PayloadInvalid, PayloadTooLarge, Unauthorized
from shared.observability.metrics import PIPELINE_ITEMS


async def receive_webhook(
    *,
    adapter: ProviderAdapter,
    request: SignedRequest,
    content_type: str,
    settings: IngestSettings,
    writer: IntakeWriter,
    traceparent: str,
) -> WebhookOutcome:
    """Handle one call; raises ``Unauthorized`` (401), ``PayloadInvalid`` (422) or ``PayloadTooLarge`` (413)."""
    provider = adapter.name
    try:
        verify(adapter.scheme, request, adapter.secret(settings), replay_window_s=settings.webhook_replay_window_s)
    except SignatureRejected as exc:
        record_rejection("webhook", provider, exc.reason, exc.message)
        code = "webhook_not_configured" if exc.reason == "not_configured" else exc.reason
        raise Unauthorized(exc.message, code=code) from None
    try:
        normalised = adapter.read(request.body, content_type, settings)
    except PayloadRejected as exc:
        record_rejection("webhook", provider, exc.reason, exc.message)
        raise PayloadInvalid(exc.message, code=exc.reason) from None
    size = len(normalised.feedback) + len(normalised.customer_events) + len(normalised.fetches)
    if size > settings.max_batch_items:
        record_rejection("webhook", provider, "batch_too_large", f"{size} records")
        raise PayloadTooLarge(f"a call may carry at most {settings.max_batch_items} records, this one has {size}",
                              code="batch_too_large")
    if size == 0:
        WEBHOOKS.labels(provider, "ignored").inc()
        return WebhookOutcome(status="ignored", reason=normalised.ignored or "nothing to ingest")
    result = await writer.accept(Intake(
        traceparent=traceparent, feedback=normalised.feedback, customer_events=normalised.customer_events,
        fetches=normalised.fetches,
    ))
    items = [*result.feedback, *result.customer_events]
    queued = sum(o.status == "accepted" for o in result.fetches)
    accepted = sum(o.status == "accepted" for o in items)
    duplicates = result.duplicates
    PIPELINE_ITEMS.labels("ingest", "accepted").inc(accepted)
    PIPELINE_ITEMS.labels("ingest", "duplicate").inc(duplicates)
    status = "accepted" if accepted else "queued" if queued else "duplicate"
    WEBHOOKS.labels(provider, status).inc()
    return WebhookOutcome(status=status, accepted=accepted, duplicates=duplicates, queued=queued, items=items)


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names in lower case (signature schemes name them so)."""
    return {k.lower(): v for k, v in headers.items()}
