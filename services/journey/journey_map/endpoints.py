"""``GET /v1/journey-map``: the map every service tags and reports against."""

from __future__ import annotations

from fastapi import APIRouter

from services.journey.deps import RuntimeDep
from shared.contracts import JourneyMap
from shared.http import ApiKeyRequired

router = APIRouter(prefix="/v1", tags=["journey map"], dependencies=[ApiKeyRequired])


@router.get("/journey-map", response_model=JourneyMap, summary="The journey map in force")
def get_journey_map(runtime: RuntimeDep) -> JourneyMap:
    return runtime.journey_map
