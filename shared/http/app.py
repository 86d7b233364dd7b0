"""The FastAPI application every service is built from: ops endpoints, error bodies, request metrics."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

from anyio import to_thread
from fastapi import Depends, FastAPI
from pydantic import SecretStr

from shared.http.balance import WORKER_LOAD_ENV, ConnectionBalancer, join
from shared.http.bodies import DEFAULT_MAX_JSON_DEPTH, RequestBodyGuard
from shared.http.errors import install_error_handlers
from shared.http.openapi import install_openapi, require_declared_content_type
from shared.http.ops import ReadinessCheck, ops_router
from shared.observability.logs import ensure_logging
from shared.observability.requests import RequestMetricsMiddleware


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
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH,
    api_key: SecretStr | None = None,
    admin_key: SecretStr | None = None,
    error_statuses: tuple[int, ...] = (),
    threads: int | None = None,
) -> FastAPI:
    """A FastAPI app with the project's ops endpoints, error handling, metrics and request-body guards.

    ``start`` builds the service's runtime when the app starts; it is kept in ``app.state.runtime`` and
    stopped when the app shuts down (after uvicorn has drained in-flight requests). Bodies over
    ``max_body_bytes``, JSON that is not UTF-8 or nests deeper than ``max_json_depth``, and a Content-Type an
    operation does not declare are refused before an endpoint runs. ``error_statuses`` are documented on
    every operation (e.g. reporting's 403 and 429); see ``shared.http.openapi`` for the rest.

    ``threads``: at most this many threads of the process run blocking work at once (plain ``def`` endpoints
    and dependencies, sync iterators of streamed responses); the others wait their turn, first come first served.
    ``None`` keeps anyio's default (40). For work that holds the interpreter's lock, more threads than one only
    interleave requests: each takes as long as all of them together.

    One of several worker processes (``serve`` sets ``LP_WORKER_LOAD_FILE``), the app ends a keep-alive
    connection while its worker is busier than another (``shared.http.balance``).
    """
    load_file = os.environ.get(WORKER_LOAD_ENV)
    table = join(Path(load_file)) if load_file else None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        ensure_logging(service)
        if threads is not None:  # the limiter belongs to this event loop: set it once the loop runs
            to_thread.current_default_thread_limiter().total_tokens = threads
        app.state.runtime = start()
        try:
            yield
        finally:
            app.state.runtime.stop()
            if table is not None:
                table.close()

    def checks() -> Mapping[str, ReadinessCheck]:
        runtime: ServiceRuntime = app.state.runtime
        return runtime.readiness_checks()

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan,
                  dependencies=[Depends(require_declared_content_type)])
    app.state.api_key = api_key
    app.state.admin_key = admin_key
    install_error_handlers(app)
    install_openapi(app, shared_statuses=error_statuses)
    app.include_router(ops_router(service, checks))
    app.add_middleware(RequestBodyGuard, max_bytes=max_body_bytes, max_json_depth=max_json_depth)
    app.add_middleware(RequestMetricsMiddleware, service=service)
    if table is not None:
        app.add_middleware(ConnectionBalancer, table=table, service=service)
    return app
