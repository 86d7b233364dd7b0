"""The FastAPI application every service is built from: ops endpoints, error bodies, request metrics."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Protocol

from fastapi import FastAPI
from pydantic import SecretStr
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.errors import error_body, install_error_handlers
from shared.http.ops import ReadinessCheck, ops_router
from shared.observability.logs import trace_id_var
from shared.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.observability.tracing import parse_trace_id


class RequestMetricsMiddleware:
    """Counts and times every request by route template; binds the caller's trace id for logs."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        headers = dict(scope.get("headers") or [])
        token = trace_id_var.set(parse_trace_id(headers.get(b"traceparent", b"").decode("latin-1")))

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            trace_id_var.reset(token)
            route = scope.get("route")
            path = getattr(route, "path", "unmatched")
            method = scope.get("method", "GET")
            HTTP_REQUESTS.labels(self.service, path, method, str(status)).inc()
            HTTP_LATENCY.labels(self.service, path, method).observe(time.perf_counter() - start)


class BodySizeLimitMiddleware:
    """Answers 413 before reading more than ``max_bytes`` of a request body (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _BodyTooLarge:
            await self._too_large(send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            error_body("payload_too_large", f"the request body is over {self.max_bytes} bytes")
        ).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


class _BodyTooLarge(Exception):
    pass


class ServiceRuntime(Protocol):
    """What a service starts at boot and stops at shutdown (connections, consumers, relays)."""

    def readiness_checks(self) -> Mapping[str, ReadinessCheck]:
        """The dependencies ``/readyz`` checks, by name."""
        ...

    def stop(self) -> None:
        """Finish in-flight work (bounded) and close connections."""
        ...


def create_service_app(
    *,
    service: str,
    title: str,
    description: str,
    start: Callable[[], ServiceRuntime],
    version: str = "0.1.0",
    max_body_bytes: int = 1_000_000,
    api_key: SecretStr | None = None,
    admin_key: SecretStr | None = None,
) -> FastAPI:
    """A FastAPI app with the project's ops endpoints, error handling and metrics.

    ``start`` builds the service's runtime when the app starts; it is kept in ``app.state.runtime`` and
    stopped when the app shuts down (after uvicorn has drained in-flight requests).
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = start()
        try:
            yield
        finally:
            app.state.runtime.stop()

    def checks() -> Mapping[str, ReadinessCheck]:
        runtime: ServiceRuntime = app.state.runtime
        return runtime.readiness_checks()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.state.api_key = api_key
    app.state.admin_key = admin_key
    install_error_handlers(app)
    app.include_router(ops_router(service, checks))
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(RequestMetricsMiddleware, service=service)
    return app
