"""Request middleware: trace id, request metrics and one access log line per request."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.observability.logs import trace_id_var
from shared.observability.metrics import HTTP_LATENCY, HTTP_REQUESTS
from shared.observability.tracing import new_trace_id, parse_trace_id

log = logging.getLogger("lp.http")

QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: logged at DEBUG, so that the log shows work, not polling."""
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Counts and times every request by route template, and logs it with its trace id.

    The trace id is the caller's (a valid W3C ``traceparent`` header) or a new one; it is bound for the
    request's log lines and picked up by ``child_traceparent`` for the events the request causes.
    """

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
        trace_id = parse_trace_id(headers.get(b"traceparent", b"").decode("latin-1")) or new_trace_id()
        token = trace_id_var.set(trace_id)

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = getattr(scope.get("route"), "path", "unmatched")  # the template: bounded cardinality
            method = scope.get("method", "GET") if scope.get("method") in METHODS else "other"
            HTTP_REQUESTS.labels(self.service, route, method, str(status)).inc()
            HTTP_LATENCY.labels(self.service, route, method).observe(elapsed)
            log.log(logging.DEBUG if route in QUIET_ROUTES else logging.INFO, "request",
                    extra={"method": method, "route": route, "status": status,
                           "duration_ms": round(elapsed * 1000, 2)})
            trace_id_var.reset(token)
