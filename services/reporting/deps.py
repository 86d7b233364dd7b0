"""Request dependencies of the reporting API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.reporting.runtime import ReportingRuntime


def get_runtime(request: Request) -> ReportingRuntime:
    """The running service's shared parts."""
    runtime: ReportingRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ReportingRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A read-only session for the request."""
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
