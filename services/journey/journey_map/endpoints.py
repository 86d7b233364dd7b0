"""The journey map API: read the map in force and its history; publish a new version (admin key)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from services.journey.deps import SessionDep
from services.journey.journey_map import service
from services.journey.journey_map.repository import JourneyMapRepository
from services.journey.journey_map.schemas import JourneyMapVersionOut
from shared.contracts import JourneyMap, JourneyMapError
from shared.http import AdminKeyRequired, ApiKeyRequired, NotFound, PayloadInvalid

router = APIRouter(prefix="/v1", tags=["journey map"])

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


@router.get("/journey-map", response_model=JourneyMap, dependencies=[ApiKeyRequired],
            summary="The journey map in force")
def get_journey_map(session: SessionDep) -> JourneyMap:
    current = service.current(session)
    if current is None:
        raise NotFound("no journey map has been published yet")
    return current


@router.get("/journey-map/versions", response_model=list[JourneyMapVersionOut], dependencies=[ApiKeyRequired],
            summary="Every version, newest first")
def list_versions(session: SessionDep) -> list[JourneyMapVersionOut]:
    return [JourneyMapVersionOut(version=r.version, company=r.company, published_at=r.published_at,
                                 published_by=r.published_by) for r in JourneyMapRepository(session).all()]


@router.get("/journey-map/versions/{version}", response_model=JourneyMap, dependencies=[ApiKeyRequired],
            summary="One version")
def get_version(session: SessionDep, version: Annotated[int, Path(ge=1)]) -> JourneyMap:
    row = JourneyMapRepository(session).get(version)
    if row is None:
        raise NotFound(f"no journey map version {version}")
    return JourneyMap.model_validate(row.document)


@router.post(
    "/journey-map", response_model=JourneyMap, status_code=201, dependencies=[AdminKeyRequired],
    summary="Publish a new version (YAML or JSON body; version must be above the one in force)",
    openapi_extra={"requestBody": {"content": {
        "application/yaml": {"schema": {"type": "string"}},
        "application/json": {"schema": JourneyMap.model_json_schema()},
    }, "required": True}},
    responses={409: {"description": "version not above the one in force"},
               422: {"description": "not a valid journey map"}},
)
async def publish_journey_map(request: Request, session: SessionDep) -> JourneyMap:
    body = (await request.body()).decode("utf-8", errors="replace")
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    try:
        # YAML is a superset of JSON: one parser for both, with the journey map's own validation.
        journey_map = JourneyMap.from_yaml(body)
    except JourneyMapError as exc:
        raise PayloadInvalid(f"not a valid journey map: {exc}", code="invalid_journey_map",
                             details=[{"field": None, "reason": str(exc), "type": content_type}]) from exc
    service.publish(session, journey_map, by="api")
    session.commit()
    runtime = request.app.state.runtime
    runtime.relay.notify()
    return journey_map
