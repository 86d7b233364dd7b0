"""The customer room: ``/room``, one page that tells the story of customers' lives, for the weekly meeting."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from services.reporting.access.guard import COOKIE, Guard
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.periods import TzParam, resolve_period, zone
from services.reporting.room.service import room, segments
from services.reporting.story_map import map_in_force
from shared.http import ServiceError

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(tags=["customer room"], include_in_schema=False)


def _signed_in(request: Request) -> bool:
    guard: Guard = request.app.state.runtime.guard
    try:
        guard.check(guard.principal(request.cookies.get(COOKIE)), "reports:read")
    except ServiceError:
        return False
    return True


@router.get("/room/login", response_class=HTMLResponse)
def login_form(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"error": None})


@router.post("/room/login", response_class=HTMLResponse)
def login(request: Request, key: Annotated[str, Form(max_length=200)]) -> Response:
    guard: Guard = request.app.state.runtime.guard
    try:
        guard.check(guard.principal(key.strip()), "reports:read")
    except ServiceError as exc:
        return templates.TemplateResponse(request, "login.html", {"error": exc.message}, status_code=401)
    response = RedirectResponse("/room", status_code=303)
    response.set_cookie(COOKIE, key.strip(), httponly=True, samesite="strict", max_age=12 * 3600,
                        secure=request.url.scheme == "https")
    return response


@router.post("/room/logout")
def logout() -> Response:
    response = RedirectResponse("/room/login", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("/room", response_class=HTMLResponse)
def customer_room(
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    since: Annotated[date | None, Query()] = None,
    until: Annotated[date | None, Query()] = None,
    segment: Annotated[str | None, Query(max_length=100)] = None,
    tz: TzParam = "UTC",
) -> Response:
    if not _signed_in(request):
        return RedirectResponse("/room/login", status_code=303)
    period = resolve_period(session, since, until, tz=zone(tz))
    data = room(session, period, map_in_force(session, runtime.journey_map), segment or None)
    return templates.TemplateResponse(request, "room.html", {
        "data": data, "segments": segments(session), "data_json": json.dumps(data, default=str),
    })
