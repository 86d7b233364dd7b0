"""The company's customer journey map: the one definition of stages every service tags against."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class JourneyMapError(ValueError):
    """A journey map file or document that cannot be used, with a readable reason."""


class Stage(BaseModel):
    """One stage of the journey, in the company's own words."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", examples=["onboarding"])
    name: str = Field(min_length=1, max_length=200, examples=["Getting started"])
    order: int = Field(description="Position left to right on the journey.")
    description: str = Field("", max_length=2000)
    examples: list[str] = Field(default_factory=list, description="Phrases a customer might write here.")
    keywords: list[str] = Field(default_factory=list, description="Words that place an item in this stage.")


class PriorityExperience(BaseModel):
    """An experience the company commits to make reliable, with a target and an owner."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    stage: str
    name: str
    metric: str = Field("negative_share", examples=["negative_share"])
    target: float
    owner: str | None = None
    keywords: list[str] = Field(
        default_factory=list,
        description="Narrow the experience to items of its stage that mention one of these; empty = the whole stage.",
    )


class SourceHint(BaseModel):
    """Items whose provider metadata match ``match`` belong to ``stage`` (e.g. an onboarding survey)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    match: dict[str, Any] = Field(min_length=1)
    stage: str


class JourneyMap(BaseModel):
    """A versioned journey map for one company."""

    model_config = ConfigDict(extra="allow", frozen=True)

    company: str
    version: int = Field(ge=1)
    stages: list[Stage] = Field(min_length=1)
    priority_experiences: list[PriorityExperience] = Field(default_factory=list)
    sources: list[SourceHint] = Field(default_factory=list)

    @field_validator("stages")
    @classmethod
    def _stages_in_order(cls, stages: list[Stage]) -> list[Stage]:
        ids = [s.id for s in stages]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate stage ids: {', '.join(dupes)}")
        return sorted(stages, key=lambda s: s.order)

    @model_validator(mode="after")
    def _references_exist(self) -> JourneyMap:
        ids = {s.id for s in self.stages}
        for pe in self.priority_experiences:
            if pe.stage not in ids:
                raise ValueError(f"priority experience {pe.id!r} names unknown stage {pe.stage!r}")
        for hint in self.sources:
            if hint.stage not in ids:
                raise ValueError(f"source hint names unknown stage {hint.stage!r}")
        return self

    def stage_ids(self) -> list[str]:
        """Stage ids in journey order."""
        return [s.id for s in self.stages]

    @classmethod
    def from_yaml(cls, text: str) -> JourneyMap:
        """Parse and validate a YAML document; raises ``JourneyMapError`` with the reason."""
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise JourneyMapError(f"not valid YAML: {exc}") from exc
        if not isinstance(doc, dict):
            raise JourneyMapError("a journey map must be a YAML mapping with company, version and stages")
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'map'}: {e['msg']}" for e in exc.errors())
            raise JourneyMapError(reasons) from exc

    @classmethod
    def load(cls, path: Path) -> JourneyMap:
        """Read a journey map file."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise JourneyMapError(f"cannot read {path}: {exc.strerror}") from exc
        return cls.from_yaml(text)
