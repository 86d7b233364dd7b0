"""The pollers file (``LP_POLLERS_CONFIG``): which unaided sources to poll, how often, with what credentials.

```yaml
sources:
  - name: trustpilot-main          # unique; the cursor is kept under this name
    kind: trustpilot               # trustpilot | appstore | googleplay | reddit | mastodon | rss
    every: 15m                     # schedule: 30s, 15m, 6h, 1d or seconds
    business_unit_id: 46d6a890000064000500e0c3
    api_key_env: LP_TRUSTPILOT_API_KEY   # secrets are named by environment variable, never written here
```
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SourceKind = Literal["trustpilot", "appstore", "googleplay", "reddit", "mastodon", "rss"]
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class PollerConfigError(ValueError):
    """A pollers file that cannot be used, with the reason."""


def parse_duration(value: Any) -> float:
    """``30s``, ``15m``, ``6h``, ``1d`` or a number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration like 30s, 15m, 6h or 1d")
    return float(match.group(1)) * _UNITS[match.group(2)]


class SourceConfig(BaseModel):
    """One source to poll."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")
    kind: SourceKind
    every: float = Field(900.0, description="Seconds between runs.")
    provider: str | None = Field(None, description="Provider name on the items (default: the kind).")
    source: Literal["social", "review", "support", "other"] | None = None
    base_url: str | None = Field(None, description="API base URL (default: the provider's public API).")
    max_pages: int = Field(10, ge=1, le=1000, description="Most pages one run reads (bounds a first backfill).")
    page_size: int | None = Field(None, ge=1, le=500)
    user_agent: str = "listening-path/0.1 (+https://listening-path.dev)"
    # credentials, by environment variable name (or file path for keys)
    api_key_env: str | None = None
    token_env: str | None = Field(None, description="A ready bearer token (when not minted from a key below).")
    key_id: str | None = Field(None, description="App Store Connect API key id (the JWT's kid).")
    issuer_id: str | None = Field(None, description="App Store Connect issuer id (the JWT's iss).")
    private_key_file: str | None = Field(None, description="App Store Connect .p8 private key file.")
    private_key_env: str | None = Field(None, description="Variable holding the .p8 private key (PEM).")
    service_account_file: str | None = Field(None, description="Google service account JSON key file.")
    service_account_env: str | None = Field(None, description="Variable holding the service account JSON key.")
    # what to read
    business_unit_id: str | None = None
    app_id: str | None = None
    package_name: str | None = None
    subreddit: str | None = None
    search: str | None = None
    instance: str | None = None
    hashtag: str | None = None
    account_id: str | None = None
    url: str | None = None

    @field_validator("every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> float:
        seconds = parse_duration(value)
        if seconds < 1:
            raise ValueError("every must be at least 1s")
        return seconds

    @model_validator(mode="after")
    def _has_what_it_needs(self) -> SourceConfig:
        needs = {
            "trustpilot": ("business_unit_id",), "appstore": ("app_id",), "googleplay": ("package_name",),
            "rss": ("url",), "mastodon": ("instance",),
        }.get(self.kind, ())
        missing = [n for n in needs if not getattr(self, n)]
        if missing:
            raise ValueError(f"a {self.kind} source needs {', '.join(missing)}")
        if self.kind == "reddit" and not (self.subreddit or self.search):
            raise ValueError("a reddit source needs subreddit or search")
        if self.kind == "mastodon" and not (self.hashtag or self.account_id):
            raise ValueError("a mastodon source needs hashtag or account_id")
        if (self.key_id or self.issuer_id or self.private_key_file or self.private_key_env) and not (
                self.key_id and self.issuer_id and (self.private_key_file or self.private_key_env)):
            raise ValueError("an App Store Connect key needs key_id, issuer_id and private_key_file or "
                             "private_key_env")
        return self

    def secret(self, env_name: str | None) -> str | None:
        """The value of a credential variable (None when unset)."""
        return os.environ.get(env_name) if env_name else None


class PollersConfig(BaseModel):
    """Every source to poll."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sources: list[SourceConfig] = Field(default_factory=list)

    @field_validator("sources")
    @classmethod
    def _unique_names(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate source names: {', '.join(dupes)}")
        return sources

    def get(self, name: str) -> SourceConfig:
        """The source called ``name``."""
        for source in self.sources:
            if source.name == name:
                return source
        raise PollerConfigError(f"no source named {name!r}; configured: {', '.join(s.name for s in self.sources)}")

    @classmethod
    def load(cls, path: Path) -> PollersConfig:
        """Read and validate a pollers file; raises ``PollerConfigError`` with the reason."""
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise PollerConfigError(f"cannot read {path}: {exc}") from exc
        try:
            return cls.model_validate(doc)
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise PollerConfigError(f"{path}: {reasons}") from exc
