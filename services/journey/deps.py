"""Request dependencies of the journey API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.journey.runtime import JourneyRuntime


def get_runtime(request: Request) -> JourneyRuntime:
    """The running service's shared parts."""
    runtime: JourneyRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[JourneyRuntime, Depends(get_runtime)]
