"""Request dependencies of the reporting API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.reporting.runtime import ReportingRuntime


async def get_runtime(request: Request) -> ReportingRuntime:
    """The running service's shared parts (``async``: no thread hop for an attribute read)."""
    runtime: ReportingRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ReportingRuntime, Depends(get_runtime)]


async def get_session(runtime: RuntimeDep) -> AsyncIterator[Session]:
    """A read-only session for the request.

    ``async`` so that FastAPI does not send its opening and its closing to the thread pool (two hops a request):
    a session connects only when the endpoint, in a worker thread, runs its first query, and closing it hands
    the connection back to the pool after a rollback of a read.
    """
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
