"""Request dependencies of the journey API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from services.journey.runtime import JourneyRuntime


def get_runtime(request: Request) -> JourneyRuntime:
    """The running service's shared parts."""
    runtime: JourneyRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[JourneyRuntime, Depends(get_runtime)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    """A session for the request; an endpoint that writes commits it."""
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
