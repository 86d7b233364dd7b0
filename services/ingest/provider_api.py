"""Calling providers' HTTP APIs politely: retries with capped exponential backoff and jitter, and respect
for rate-limit headers (``Retry-After``, ``X-RateLimit-Remaining``/``-Reset`` and their variants).

Used by the fetch worker (SurveyMonkey, Qualtrics) and by every poller, so all outbound calls behave alike.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

log = logging.getLogger(__name__)

RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class ProviderApiError(Exception):
    """A provider call that failed for good (or ran out of retries); ``permanent`` says retrying cannot help."""

    def __init__(self, message: str, *, status: int | None = None, permanent: bool = False,
                 retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.permanent = permanent
        self.retry_after_s = retry_after_s


@dataclass
class RetryPolicy:
    """How hard to try one call."""

    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 60.0
    max_rate_limit_wait_s: float = 300.0
    jitter: Callable[[float], float] = field(default=lambda d: d * random.uniform(0.5, 1.0))  # noqa: S311

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1-based), jittered."""
        return self.jitter(min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1)))


@dataclass
class ApiResponse:
    """A successful answer: status, headers and body (JSON decoded when it is JSON)."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: str

    def json(self) -> Any:
        """The body as JSON."""
        import json

        return json.loads(self.content)


class ProviderApi:
    """An HTTP client for one provider's API, with retries and rate-limit handling."""

    def __init__(
        self,
        *,
        name: str,
        timeout_s: float = 10.0,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._client = httpx.Client(timeout=timeout_s, transport=transport, headers=dict(headers or {}),
                                    follow_redirects=True)
        self._not_before = 0.0

    def close(self) -> None:
        """Close connections."""
        self._client.close()

    def __enter__(self) -> ProviderApi:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def get(self, url: str, *, params: Mapping[str, Any] | None = None,
            headers: Mapping[str, str] | None = None) -> ApiResponse:
        """GET with retries; 304 is returned as a response, other non-2xx raise ``ProviderApiError``."""
        last: ProviderApiError | None = None
        for attempt in range(1, self.policy.attempts + 1):
            self._wait_for_budget()
            try:
                # An empty params mapping would replace a query string already in the URL (next-page links).
                response = self._client.get(url, params=params or None, headers=headers)
            except httpx.HTTPError as exc:
                last = ProviderApiError(f"{self.name}: {type(exc).__name__}: {exc}")
                delay = self.policy.backoff(attempt)
            else:
                self._note_budget(response.headers)
                if response.status_code < 300 or response.status_code == 304:
                    return ApiResponse(response.status_code, response.headers, response.content, str(response.url))
                wait = retry_after(response.headers)
                if response.status_code not in RETRYABLE:
                    raise ProviderApiError(
                        f"{self.name}: HTTP {response.status_code} for {_safe_url(response.url)}",
                        status=response.status_code, permanent=True,
                    )
                last = ProviderApiError(f"{self.name}: HTTP {response.status_code} for {_safe_url(response.url)}",
                                        status=response.status_code, retry_after_s=wait)
                delay = (min(wait, self.policy.max_rate_limit_wait_s) if wait is not None
                         else self.policy.backoff(attempt))
            if attempt == self.policy.attempts:
                break
            log.info("provider call failed; retrying", extra={"provider": self.name, "attempt": attempt,
                                                              "retry_in_s": round(delay, 2), "error": str(last)})
            self._sleep(delay)
        assert last is not None
        raise last

    def _note_budget(self, headers: httpx.Headers) -> None:
        """When the provider says the rate budget is spent, hold the next call until it resets."""
        remaining = _first(headers, ("x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining"))
        if remaining is None:
            return
        try:
            left = float(remaining)
        except ValueError:
            return
        if left > 0:
            return
        reset = reset_in(headers)
        if reset is not None:
            self._not_before = time.monotonic() + min(reset, self.policy.max_rate_limit_wait_s)

    def _wait_for_budget(self) -> None:
        wait = self._not_before - time.monotonic()
        if wait > 0:
            log.info("rate limit spent; waiting for reset", extra={"provider": self.name, "wait_s": round(wait, 2)})
            self._sleep(wait)
            self._not_before = 0.0


def _first(headers: httpx.Headers, names: tuple[str, ...]) -> str | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            return str(value)
    return None


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP date), else from a rate-limit reset header."""
    value = headers.get("retry-after")
    if value:
        value = value.strip()
        if value.replace(".", "", 1).isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            return max(0.0, (when - datetime.now(UTC)).total_seconds())
    return reset_in(headers)


def reset_in(headers: httpx.Headers) -> float | None:
    """Seconds until the rate budget resets: a delta in seconds, a Unix time, or an ISO 8601 time."""
    value = _first(headers, ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset"))
    if value is None:
        return None
    value = value.strip()
    try:
        number = float(value)
    except ValueError:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, (when - datetime.now(UTC)).total_seconds())
    if number > 1_000_000_000:  # a Unix time, not a delta
        return max(0.0, number - time.time())
    return max(0.0, number)


def _safe_url(url: httpx.URL) -> str:
    """The URL without its query string (which may carry an API key)."""
    return str(url.copy_with(query=None))
