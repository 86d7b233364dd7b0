"""Request dependencies of the journey API."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.nlp.runtime import NlpRuntime


def get_runtime(request: Request) -> NlpRuntime:
    """The running service's shared parts."""
    runtime: NlpRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[NlpRuntime, Depends(get_runtime)]
