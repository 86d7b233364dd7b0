"""Provider adapters, one small mapping per provider, found by name."""

from services.ingest.webhooks.adapters.base import Normalised, PayloadRejected, ProviderAdapter
from services.ingest.webhooks.adapters.hubspot import HubSpotAdapter
from services.ingest.webhooks.adapters.qualtrics import QualtricsAdapter
from services.ingest.webhooks.adapters.salesforce import SalesforceAdapter
from services.ingest.webhooks.adapters.surveymonkey import SurveyMonkeyAdapter
from services.ingest.webhooks.adapters.typeform import TypeformAdapter
from services.ingest.webhooks.adapters.zendesk import ZendeskAdapter

ADAPTERS: dict[str, ProviderAdapter] = {
    adapter.name: adapter
    for adapter in (TypeformAdapter(), SurveyMonkeyAdapter(), QualtricsAdapter(), ZendeskAdapter(),
                    HubSpotAdapter(), SalesforceAdapter())
}
"""Every webhook provider, by the name used in ``POST /v1/webhooks/{provider}``."""

__all__ = ["ADAPTERS", "Normalised", "PayloadRejected", "ProviderAdapter"]
