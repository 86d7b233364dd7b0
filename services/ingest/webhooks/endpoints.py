"""``POST /v1/webhooks/{provider}``: signed provider webhooks (no API key; the signature proves the sender)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Request, Response
from fastapi.responses import JSONResponse

from services.ingest.deps import RuntimeDep
from services.ingest.intake.schemas import WebhookOutcome
from services.ingest.metrics import record_rejection
from services.ingest.webhooks.adapters import ADAPTERS, ProviderAdapter
from services.ingest.webhooks.service import lower_headers, receive_webhook
from services.ingest.webhooks.signatures import SignedRequest
from shared.http import NotFound
from shared.observability.tracing import child_traceparent

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
ProviderName = Annotated[str, Path(description="A provider name; any other is 404 unknown_provider.",
                                   json_schema_extra={"enum": sorted(ADAPTERS)})]


def _adapter(provider: str) -> ProviderAdapter:
    adapter = ADAPTERS.get(provider)
    if adapter is None:
        record_rejection("webhook", "unknown", "unknown_provider", provider[:64])
        raise NotFound(f"no webhook provider named {provider!r}; known: {', '.join(sorted(ADAPTERS))}",
                       code="unknown_provider")
    return adapter


@router.head("/{provider}", summary="Reachability check (SurveyMonkey checks a URL before subscribing it)",
             response_class=Response, responses={200: {"description": "The provider exists (no body)"},
                                                 404: {"description": "Unknown provider"}})
async def webhook_head(provider: ProviderName) -> Response:
    _adapter(provider)
    return Response(status_code=200)


@router.post(
    "/{provider}",
    status_code=202,
    response_model=WebhookOutcome,
    summary="Receive a provider's signed webhook",
    description=(
        "Providers: " + ", ".join(sorted(ADAPTERS)) + ". The call is verified with the provider's signature scheme "
        "(401 with a reason when the signature is missing, wrong or outside the replay window), normalised, and "
        "answered 202 only after what it carries is stored: feedback, customer events, or - for SurveyMonkey and "
        "Qualtrics, whose webhooks are envelopes - the envelope, whose response is then fetched from the "
        "provider's API in the background."
    ),
    responses={401: {"description": "Signature missing, wrong or stale, or the provider is not configured"},
               404: {"description": "Unknown provider"}, 413: {"description": "Body or batch too large"},
               422: {"description": "Signed but not understood"}},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"description": "The provider's JSON document, as it sends it."}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object", "description": "Qualtrics envelopes."}},
    }}},
)
async def receive(
    provider: ProviderName,
    request: Request,
    runtime: RuntimeDep,
    traceparent: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    adapter = _adapter(provider)
    body = await request.body()
    url = str(request.url)
    if runtime.settings.public_base_url:
        query = f"?{request.url.query}" if request.url.query else ""
        url = runtime.settings.public_base_url.rstrip("/") + request.url.path + query
    signed = SignedRequest(method=request.method, url=url, headers=lower_headers(request.headers),
                           query=dict(request.query_params), body=body)
    trace = child_traceparent(traceparent)
    outcome = await receive_webhook(
        adapter=adapter, request=signed, content_type=request.headers.get("content-type", ""),
        settings=runtime.settings, writer=runtime.writer, traceparent=trace,
    )
    if outcome.queued:
        runtime.fetcher.notify()
    return JSONResponse(outcome.model_dump(), status_code=202, headers={"traceparent": trace})
