"""The OpenAPI document says what every operation can answer, and requests are held to what it says they take.

* ``ErrorResponse`` is the one error body (``shared.http.errors``) as a schema component, ``Error``.
* ``document_errors`` completes each operation's responses: every error status gets the ``Error`` body;
  every operation but the public ones may answer 401; one with parameters or a body 422; one with a body
  400 (unreadable JSON), 413 and 415; and each service adds the statuses all its operations share.
* ``declared_media_types`` / ``ContentTypeRequired``: a request body whose Content-Type the operation does
  not declare gets 415 (a body without a Content-Type is read as the declared type).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from shared.http.bodies import is_json, media_type
from shared.http.errors import ServiceError

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Operations anyone may call (no key, no signature)."""

STATUS_TEXT = {
    400: "The request cannot be read (JSON that is not UTF-8 or nested too deeply), or a parameter value "
         "cannot be used",
    401: "Missing or invalid credentials (API key, or the provider's signature)",
    403: "The key lacks the scope this operation needs",
    404: "Not found",
    413: "The body (or a batch) is over the limit",
    415: "The Content-Type is not one this operation takes",
    422: "The request is not valid: one reason per field",
    429: "Rate limit exceeded; Retry-After says when to come back",
    503: "A dependency is unavailable; nothing was changed",
}
BODY_STATUSES = (400, 413, 415)
ERROR_REF = {"$ref": "#/components/schemas/Error"}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class ErrorDetail(BaseModel):
    """One reason, usually naming the field it is about."""

    field: str | None = Field(None, description="Dotted path of the offending field, when there is one.")
    reason: str | None = Field(None, description="Why it was refused.")
    type: str | None = Field(None, description="Machine-readable kind of the problem.")


class ErrorInfo(BaseModel):
    """What went wrong."""

    code: str = Field(description="Machine-readable reason, e.g. validation_failed, invalid_api_key.",
                      examples=["validation_failed"])
    message: str = Field(description="Human-readable explanation.")
    details: list[ErrorDetail] = Field(default_factory=list, description="One entry per offending field.")


class ErrorResponse(BaseModel):
    """The body of every error answer of every service."""

    error: ErrorInfo


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status with its usual description and the ``Error`` body."""
    return {status: {"description": STATUS_TEXT.get(status, "Error"), "model": ErrorResponse} for status in statuses}


def alternative_media(*media_types: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route whose 200 may also come as another media type (``text/csv`` ...)."""
    return {200: {"content": {m: {"schema": {"type": "string"}} for m in media_types}}}


def document_errors(schema: dict[str, Any], *, shared_statuses: Iterable[int] = (),
                    public_paths: frozenset[str] = PUBLIC_PATHS) -> dict[str, Any]:
    """Complete ``schema`` (an OpenAPI document, changed in place and returned) as the module docstring says."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(_error_components())
    _hoist_local_defs(schema.get("paths", {}), components)
    for path, item in schema.get("paths", {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            wanted: set[int] = set()
            if path not in public_paths:
                wanted |= {401, *shared_statuses}
                if operation.get("parameters") or item.get("parameters") or operation.get("requestBody"):
                    wanted.add(422)
                if operation.get("requestBody"):
                    wanted |= set(BODY_STATUSES)
            for code in sorted(wanted):
                responses.setdefault(str(code), {"description": STATUS_TEXT.get(code, "Error")})
            for status, response in responses.items():
                if status.isdigit() and int(status) >= 400 and not _own_body(response):
                    response["content"] = {"application/json": {"schema": ERROR_REF}}
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    return schema


def _hoist_local_defs(node: Any, components: dict[str, Any]) -> None:
    """Move ``$defs`` of inline schemas (``openapi_extra`` bodies) into the components, so their ``#/$defs/X``
    references resolve from the document's root as OpenAPI tools read them."""
    if isinstance(node, list):
        for child in node:
            _hoist_local_defs(child, components)
        return
    if not isinstance(node, dict):
        return
    for name, definition in node.pop("$defs", {}).items():
        components.setdefault(name, definition)
        _hoist_local_defs(definition, components)
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
    for child in node.values():
        _hoist_local_defs(child, components)


def _own_body(response: Mapping[str, Any]) -> bool:
    """Whether a response documents a body of its own (FastAPI's validation-error default does not count)."""
    schemas = [m.get("schema", {}) for m in response.get("content", {}).values()]
    return any(s and s.get("$ref") != "#/components/schemas/HTTPValidationError" for s in schemas)


def _error_components() -> dict[str, Any]:
    doc = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = doc.pop("$defs", {})
    return {**defs, "Error": doc}


def install_openapi(app: FastAPI, *, shared_statuses: Iterable[int] = ()) -> None:
    """Serve the completed document as ``app.openapi()``."""
    statuses = tuple(shared_statuses)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes, openapi_version=app.openapi_version)
            app.openapi_schema = document_errors(schema, shared_statuses=statuses)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


class UnsupportedMediaType(ServiceError):
    """The body's Content-Type is not one the operation takes."""

    status_code = 415
    code = "unsupported_media_type"


def declared_media_types(app: FastAPI) -> Mapping[tuple[str, str], frozenset[str]]:
    """(path template, METHOD) -> the request media types its OpenAPI operation declares (computed once)."""
    cached: Mapping[tuple[str, str], frozenset[str]] | None = getattr(app.state, "declared_media_types", None)
    if cached is None:
        found: dict[tuple[str, str], frozenset[str]] = {}
        for path, item in app.openapi().get("paths", {}).items():
            for method in METHODS:
                body = (item.get(method) or {}).get("requestBody")
                if body is not None:
                    found[(path, method.upper())] = frozenset(body.get("content", {}))
        app.state.declared_media_types = cached = found
    return cached


YAML_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
"""The names YAML goes by; one declared, all are taken."""


def media_type_accepted(sent: str, declared: frozenset[str]) -> bool:
    """Whether a body of media type ``sent`` fits what an operation declares."""
    if not sent or sent in declared or "*/*" in declared:
        return True
    if sent in YAML_TYPES and declared & YAML_TYPES:
        return True
    return is_json(sent) and any(is_json(d) for d in declared)


async def require_declared_content_type(request: Request) -> None:
    """App dependency: refuse (415) a body whose Content-Type the matched operation does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_media_types(request.app).get((route.path_format, request.method))
    if declared is None:
        return  # the operation takes no body, or is not in the document
    sent = media_type(request.headers.get("content-type"))
    if not media_type_accepted(sent, declared):
        raise UnsupportedMediaType(
            f"Content-Type {sent!r} is not accepted here; send {' or '.join(sorted(declared))}")

