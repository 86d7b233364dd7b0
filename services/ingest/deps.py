"""Request dependencies of the ingest API, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.ingest.runtime import IngestRuntime


def get_runtime(request: Request) -> IngestRuntime:
    """The running service's shared parts."""
    runtime: IngestRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[IngestRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A session for the request; the endpoint commits."""
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
