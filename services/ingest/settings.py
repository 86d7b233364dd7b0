"""Ingest settings (``LP_*``).

Provider secrets are ``SecretStr`` (never logged, never echoed in errors). A provider whose secret is not
set is switched off: its webhook answers 401 ``webhook_not_configured``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from pydantic import AliasChoices, Field, SecretStr, field_validator

from shared.outbox import RELAY_BATCH
from shared.settings import ServiceSettings

SCORE_KINDS = frozenset({"nps", "csat", "ces", "rating"})


class IngestSettings(ServiceSettings):
    """What the ingest service reads from the environment."""

    service_name: ClassVar[str] = "ingest"

    port: int = 8081
    max_batch_items: int = Field(1000, ge=1, description="Most items one POST may carry.")
    max_body_bytes: int = Field(5_000_000, ge=1024, description="Largest request body accepted.")
    relay_batch_size: int = Field(RELAY_BATCH, ge=1, description="Outbox rows published per relay round (at most).")
    relay_idle_s: float = Field(0.5, gt=0, description="How long the relay sleeps when the outbox is empty.")
    intake_group_items: int = Field(
        5000, ge=1, description="Most items the intake writer commits in one transaction (group commit)."
    )
    workers: int = Field(
        1, ge=1, le=64, validation_alias=AliasChoices("LP_INGEST_WORKERS", "LP_WORKERS"),
        description="uvicorn worker processes of `serve ingest` (LP_INGEST_WORKERS); one of them leads and runs "
        "the outbox relay, fetches, polls and housekeeping.",
    )
    leader_retry_s: float = Field(
        2.0, gt=0, description="How often a process that does not lead tries to, and the leader checks its lock."
    )
    idempotency_ttl_s: float = Field(
        86_400.0, gt=0, description="How long an Idempotency-Key's answer is replayed (LP_IDEMPOTENCY_TTL_S); "
        "expired keys count as new and are purged by the leader.",
    )

    # -- webhooks -------------------------------------------------------------------------------------------
    webhook_replay_window_s: float = Field(
        300.0, gt=0, description="Signed timestamps older (or further in the future) than this are rejected."
    )
    public_base_url: str | None = Field(
        None, description="The URL providers call us at (e.g. https://lp.example.com), for signatures that cover "
        "the request URL (HubSpot v3). Default: the URL of the request as received."
    )
    typeform_secret: SecretStr | None = Field(None, description="Typeform webhook secret.")
    surveymonkey_api_key: str | None = Field(None, description="SurveyMonkey app client id (the Sm-Apikey).")
    surveymonkey_api_secret: SecretStr | None = Field(None, description="SurveyMonkey app secret.")
    surveymonkey_access_token: SecretStr | None = Field(None, description="SurveyMonkey API access token.")
    surveymonkey_api_url: str = Field("https://api.surveymonkey.com", description="SurveyMonkey API base URL.")
    qualtrics_webhook_token: SecretStr | None = Field(
        None, description="Shared token Qualtrics sends as ?token= on the publication URL."
    )
    qualtrics_api_token: SecretStr | None = Field(None, description="Qualtrics X-API-TOKEN.")
    qualtrics_api_url: str | None = Field(None, description="Qualtrics datacenter URL, e.g. https://fra1.qualtrics.com.")
    zendesk_webhook_secret: SecretStr | None = Field(None, description="Zendesk webhook signing secret.")
    hubspot_client_secret: SecretStr | None = Field(None, description="HubSpot app client secret (v3 signatures).")
    hubspot_access_token: SecretStr | None = Field(
        None, description="HubSpot private app / OAuth access token (scope crm.objects.deals.read): deal stage and "
        "amount changes are then resolved through the CRM API to the deal's company or contact, with value.",
    )
    hubspot_api_url: str = Field("https://api.hubapi.com", description="HubSpot API base URL.")
    salesforce_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret of the relay that posts Salesforce change events."
    )
    score_fields: dict[str, dict[str, str]] = Field(
        default_factory=dict,
        description="JSON: provider -> {question id or ref -> nps|csat|ces|rating}, for surveys whose score "
        "questions cannot be recognised from their type.",
    )

    # -- envelope-then-fetch ------------------------------------------------------------------------------------
    fetch_max_attempts: int = Field(12, ge=1, description="Tries to fetch a response before it is parked as failed.")
    fetch_timeout_s: float = Field(10.0, gt=0, description="HTTP timeout of one provider API call.")
    fetch_max_backoff_s: float = Field(600.0, gt=0, description="Longest wait between two fetch attempts.")

    # -- pollers ------------------------------------------------------------------------------------------------
    pollers_config: Path | None = Field(
        None, description="YAML file of unaided sources to poll; unset means the scheduler is off."
    )

    @field_validator("score_fields", mode="before")
    @classmethod
    def _parse_score_fields(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = json.loads(value) if value.strip() else {}
        if isinstance(value, dict):
            for provider, fields in value.items():
                for field, kind in dict(fields).items():
                    if kind not in SCORE_KINDS:
                        raise ValueError(
                            f"score_fields.{provider}.{field}: {kind!r} is not one of {sorted(SCORE_KINDS)}")
        return value
