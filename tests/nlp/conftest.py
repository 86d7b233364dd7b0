"""Models shared by the NLP tests, loaded once per session (they are read-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.nlp.models import Analyzer, TextEncoder, TorchEncoder
from shared.contracts.journey_map import JourneyMap

DEMO_MAP = Path(__file__).resolve().parents[2] / "services" / "demo" / "journey_map.yaml"


@pytest.fixture(scope="session")
def demo_map() -> JourneyMap:
    return JourneyMap.load(DEMO_MAP)


@pytest.fixture(scope="session")
def service_encoder() -> TextEncoder:
    """What the service loads: the fine-tuned ONNX model when built, else the stock model."""
    return TextEncoder.load(threads=2)


@pytest.fixture(scope="session")
def stock_encoder() -> TorchEncoder:
    return TorchEncoder.stock(threads=2)


@pytest.fixture(scope="session")
def analyzer(demo_map: JourneyMap) -> Analyzer:
    return Analyzer.load(demo_map, threads=2)
