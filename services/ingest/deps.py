"""Request dependencies of the ingest API, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.ingest.metrics import record_rejection
from services.ingest.runtime import IngestRuntime
from shared.http import Unauthorized, check_api_key


async def get_runtime(request: Request) -> IngestRuntime:
    """The running service's shared parts (async: no thread hop per request)."""
    runtime: IngestRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[IngestRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A session for the request; the endpoint commits."""
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


async def require_ingest_key(request: Request) -> None:
    """The caller must present the ingest key; every refusal is counted and logged with its reason."""
    try:
        check_api_key(request, getattr(request.app.state, "api_key", None))
    except Unauthorized as exc:
        record_rejection("api", "generic", exc.code, exc.message)
        raise


IngestKeyRequired = Depends(require_ingest_key)
"""Router dependency of the key-authenticated routes (``POST /v1/feedback``)."""
