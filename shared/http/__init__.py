"""HTTP building blocks shared by the services."""

from shared.http.app import create_service_app
from shared.http.auth import AdminKeyRequired, ApiKeyRequired, check_api_key
from shared.http.errors import NotFound, PayloadInvalid, PayloadTooLarge, ServiceError, Unauthorized

__all__ = [
    "AdminKeyRequired",
    "ApiKeyRequired",
    "NotFound",
    "PayloadInvalid",
    "PayloadTooLarge",
    "ServiceError",
    "Unauthorized",
    "check_api_key",
    "create_service_app",
]
