"""One error body for every service: ``{"error": {"code", "message", "details"}}``.

Domain exceptions carry their HTTP status and a machine-readable code; 422 is
used only for payload validation, with one detail per offending field.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

log = logging.getLogger(__name__)


class ServiceError(Exception):
    """A failure the client can act on. Subclasses set ``status_code`` and ``code``."""

    status_code: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.details = details or []
        self.headers = headers


class Unauthorized(ServiceError):
    """Missing or wrong credentials."""

    status_code = 401
    code = "unauthorized"


class NotFound(ServiceError):
    """The thing asked for does not exist."""

    status_code = 404
    code = "not_found"


class PayloadInvalid(ServiceError):
    """The body parsed but its fields are wrong; ``details`` names each field."""

    status_code = 422
    code = "validation_failed"


class PayloadTooLarge(ServiceError):
    """The body or batch is over the configured limit."""

    status_code = 413
    code = "payload_too_large"


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The JSON error document."""
    return {"error": {"code": code, "message": message, "details": details or []}}


def validation_details(errors: Any) -> list[dict[str, Any]]:
    """Pydantic errors → ``[{"field": "items.0.text", "reason": "...", "type": "..."}]``."""
    out = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        out.append({"field": ".".join(loc) or None, "reason": err.get("msg", "invalid"), "type": err.get("type")})
    return out


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to the one error body."""

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message, exc.details), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            error_body("validation_failed", "the request is not valid", validation_details(exc.errors())),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large", 415: "unsupported_media_type"}.get(exc.status_code, "http_error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(ClientDisconnect)
    async def _client_gone(_request: Request, _exc: ClientDisconnect) -> Response:
        # The client left (or the body guard answered 413 and cut the body off): nobody reads this answer.
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return JSONResponse(error_body("internal_error", "an unexpected error occurred"), status_code=500)
