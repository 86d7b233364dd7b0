"""``GET /v1/stages``: the health of each journey stage over a period."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy.orm import Session

from services.journey import metrics
from services.journey.metrics import Counts
from services.journey.models import UNSTAGED
from services.reporting.access.guard import ReportsRead
from services.reporting.deps import RuntimeDep, SessionDep
from services.reporting.export import csv_response, flatten
from services.reporting.periods import SINCE_DOC, UNTIL_DOC, Period, TzParam, resolve_period, zone
from services.reporting.rollup_reads import counts_by_bucket, texts, top_phrases_by_stage
from services.reporting.stages.schemas import Phrase, SentimentMix, StagesReport, StageSummary, StageWeek
from services.reporting.story_map import map_in_force
from shared.contracts import JourneyMap
from shared.http.openapi import alternative_media

router = APIRouter(prefix="/v1", tags=["stages"], dependencies=[ReportsRead])


def _round(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def summarise(stage_id: str | None, name: str, order: int | None, c: Counts, phrases: list[Phrase],
              trend: list[StageWeek] | None = None) -> StageSummary:
    """The API shape of a stage's counters."""
    return StageSummary(
        trend=trend or [],
        id=stage_id, name=name, order=order, volume=c.volume,
        sentiment=SentimentMix(negative=c.negative, neutral=c.neutral, positive=c.positive),
        negative_share=_round(metrics.negative_share(c)), mean_sentiment=_round(metrics.mean_sentiment(c)),
        nps=_round(metrics.nps(c), 1), csat=_round(metrics.csat(c), 1), ces=_round(metrics.ces(c), 2),
        aided=c.aided, unaided=c.unaided, top_phrases=phrases,
    )


@router.get("/stages", response_model=StagesReport, summary="Health of every journey stage over a period",
            responses=alternative_media("text/csv"))
def list_stages(
    session: SessionDep,
    runtime: RuntimeDep,
    since: Annotated[date | None, Query(description=SINCE_DOC)] = None,
    until: Annotated[date | None, Query(description=UNTIL_DOC)] = None,
    tz: TzParam = "UTC",
    examples: Annotated[bool, Query(description="Include example verbatims for each top phrase.")] = True,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> StagesReport | StreamingResponse:
    period = resolve_period(session, since, until, tz=zone(tz))
    jm = map_in_force(session, runtime.journey_map)
    result = runtime.cache.get(("stages", period, examples, jm.version),
                               lambda: stages_report(session, period, jm, examples))
    if format == "csv":
        rows = [flatten(st.model_dump(mode="json", exclude={"top_phrases", "trend"})) for st in result.stages]
        return csv_response(rows, STAGE_COLUMNS, "stages.csv")
    return result


STAGE_COLUMNS = ["id", "name", "order", "volume", "sentiment.negative", "sentiment.neutral", "sentiment.positive",
                 "negative_share", "mean_sentiment", "nps", "csat", "ces", "aided", "unaided"]


def stages_report(session: Session, period: Period, jm: JourneyMap, examples: bool) -> StagesReport:
    """Every stage's summary over the period: a handful of queries whatever the number of stages or items."""
    windows = period.weeks()
    totals, *weekly = counts_by_bucket(session, "stage", [period.span(), *(s for _, s in windows)])
    phrases = top_phrases_by_stage(session, period, examples=examples)
    verbatims = texts(session, (i for ps in phrases.values() for p in ps for i in p.example_ids), period.span())

    def trend(stage: str) -> list[StageWeek]:
        return [StageWeek(week_start=first, volume=c.volume, negative_share=_round(metrics.negative_share(c)),
                          nps=_round(metrics.nps(c), 1))
                for (first, _), c in ((w, week.get(stage, Counts())) for w, week in zip(windows, weekly,
                                                                                          strict=True))]

    def top(stage: str) -> list[Phrase]:
        return [Phrase(phrase=p.phrase, count=p.count, negative=p.negative,
                       examples=[verbatims[i] for i in p.example_ids if i in verbatims])
                for p in phrases.get(stage, [])]

    stages = [summarise(s.id, s.name, s.order, totals.pop(s.id, Counts()), top(s.id), trend(s.id))
              for s in jm.stages]
    unstaged = totals.pop(UNSTAGED, Counts())
    # Stages dropped from the map since the items were tagged still count, under their id.
    stages += [summarise(sid, sid, None, c, []) for sid, c in sorted(totals.items())]
    stages.append(summarise(None, "No stage fitted", None, unstaged, []))
    return StagesReport(since=period.since, until=period.until, tz=str(period.tz),
                        journey_map_version=jm.version, stages=stages)
