"""``GET /v1/stages``: each journey stage's volume and sentiment mix."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from services.journey.models import UNSTAGED
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.stages.repository import StageReadRepository
from services.reporting.stages.schemas import SentimentMix, StagesReport, StageSummary
from shared.http import ApiKeyRequired, ServiceError

router = APIRouter(prefix="/v1", tags=["stages"], dependencies=[ApiKeyRequired])


def _summary(stage_id: str | None, name: str, order: int | None, counts: tuple[int, int, int, int]) -> StageSummary:
    volume, negative, neutral, positive = counts
    return StageSummary(
        id=stage_id, name=name, order=order, volume=volume,
        sentiment=SentimentMix(negative=negative, neutral=neutral, positive=positive),
        negative_share=round(negative / volume, 4) if volume else None,
    )


@router.get("/stages", response_model=StagesReport, summary="Volume and sentiment mix per journey stage")
def list_stages(
    session: SessionDep,
    runtime: RuntimeDep,
    since: Annotated[date | None, Query(description="First day (UTC), inclusive.")] = None,
    until: Annotated[date | None, Query(description="Last day (UTC), inclusive.")] = None,
) -> StagesReport:
    if since and until and since > until:
        raise ServiceError("`since` is after `until`", code="invalid_period")
    totals = StageReadRepository(session).totals(since, until)
    zero = (0, 0, 0, 0)
    jm = runtime.journey_map
    stages = [_summary(s.id, s.name, s.order, totals.pop(s.id, zero)) for s in jm.stages]
    unstaged = totals.pop(UNSTAGED, zero)
    # Stages dropped from the map since the items were tagged still count, under their id.
    stages += [_summary(stage_id, stage_id, None, counts) for stage_id, counts in sorted(totals.items())]
    stages.append(_summary(None, "No stage fitted", None, unstaged))
    return StagesReport(since=since, until=until, journey_map_version=jm.version, stages=stages)
