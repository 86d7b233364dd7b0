"""``POST /v1/analyze``: tag texts on demand."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from services.nlp.analysis.schemas import AnalyzeRequest, AnalyzeResponse, AnalyzeResult
from services.nlp.deps import RuntimeDep
from services.nlp.models import TextInput
from shared.http import ApiKeyRequired, PayloadTooLarge

router = APIRouter(prefix="/v1", tags=["analysis"], dependencies=[ApiKeyRequired])


@router.post("/analyze", response_model=AnalyzeResponse, summary="Tag texts with sentiment, stage, language")
async def analyze(request: AnalyzeRequest, runtime: RuntimeDep) -> AnalyzeResponse:
    limit = runtime.settings.analyze_max_texts
    if len(request.items) > limit:
        raise PayloadTooLarge(f"at most {limit} texts per call, got {len(request.items)}", code="too_many_texts")
    analyzer = runtime.analyzer
    if request.journey_map is not None:
        analyzer = await run_in_threadpool(analyzer.with_journey_map, request.journey_map)
    inputs = [TextInput(text=i.text, provider=i.provider, metadata=i.metadata) for i in request.items]
    analyses = await run_in_threadpool(analyzer.analyze, inputs)
    return AnalyzeResponse(
        journey_map_version=analyzer.journey_map.version,
        model_version=analyzer.model_version,
        results=[
            AnalyzeResult(
                id=item.id, sentiment=a.sentiment, stage=a.stage, language=a.language,
                key_phrases=a.key_phrases, redacted_text=a.redacted_text, redactions=a.redactions,
            )
            for item, a in zip(request.items, analyses, strict=True)
        ],
    )
