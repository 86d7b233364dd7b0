"""Who may read reports: a key with the right scope, within its rate limit.

A caller presents a key as ``X-API-Key``, ``Authorization: Bearer``, or (for the customer room in a browser)
the ``lp_key`` cookie set by ``/room/login``. ``LP_API_KEY``, when set, is a bootstrap key with every scope.
Each key may make ``LP_RATE_LIMIT`` requests (default ``600/minute``); past that the answer is 429 with
``Retry-After``. Limits are counted per process, or in Redis when ``LP_RATE_LIMIT_STORAGE`` is a redis:// URL
(several replicas).
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from services.reporting.access.keys import find_key, key_hash
from shared.http import ServiceError, Unauthorized
from shared.http.auth import presented_key

COOKIE = "lp_key"
CACHE_TTL_S = 5.0


class Forbidden(ServiceError):
    """The key is valid but lacks the scope."""

    status_code = 403
    code = "insufficient_scope"


class RateLimited(ServiceError):
    """Too many requests for this key."""

    status_code = 429
    code = "rate_limited"


@dataclass(frozen=True)
class Principal:
    """The caller: which key, with which scopes."""

    key_id: str
    scopes: frozenset[str]


class Guard:
    """Authenticates, authorises and rate-limits reporting requests."""

    def __init__(self, *, bootstrap_key: str | None, lookup: Callable[[str], Principal | None], rate_limit: str,
                 storage_url: str = "memory://") -> None:
        self._bootstrap = bootstrap_key
        self._lookup = lookup
        self._limit = parse(rate_limit)
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_url))
        self.in_process = storage_url.startswith("memory://")
        """Whether ``check`` counts in this process (no network call): it may then run on the event loop."""
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def known(self, presented: str | None) -> Principal | None:
        """The caller behind a presented key when that is known without a database read (the bootstrap key, or a
        key looked up less than ``CACHE_TTL_S`` ago); ``None`` when ``principal`` must read the database."""
        if not presented:
            return None
        if self._bootstrap and hmac.compare_digest(presented.encode(), self._bootstrap.encode()):
            return Principal("bootstrap", frozenset({"reports:read", "admin"}))
        with self._lock:
            cached = self._cache.get(key_hash(presented))
        return cached[1] if cached is not None and cached[0] >= time.monotonic() and cached[1] else None

    def principal(self, presented: str | None) -> Principal:
        """The caller behind a presented key; raises Unauthorized."""
        if not presented:
            raise Unauthorized("an API key is required (X-API-Key header or Authorization: Bearer)",
                               headers={"WWW-Authenticate": "Bearer"})
        if self._bootstrap and hmac.compare_digest(presented.encode(), self._bootstrap.encode()):
            return Principal("bootstrap", frozenset({"reports:read", "admin"}))
        digest = key_hash(presented)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(digest)
        if cached is None or cached[0] < now:
            found = self._lookup(presented)
            with self._lock:
                self._cache[digest] = (now + CACHE_TTL_S, found)
        else:
            found = cached[1]
        if found is None:
            raise Unauthorized("the API key is not valid", code="invalid_api_key",
                               headers={"WWW-Authenticate": "Bearer"})
        return found

    def check(self, principal: Principal, scope: str) -> None:
        """Refuse a missing scope (403) or an exhausted rate limit (429 with Retry-After)."""
        if scope not in principal.scopes and "admin" not in principal.scopes:
            raise Forbidden(f"this key lacks the {scope!r} scope")
        if not self._limiter.hit(self._limit, principal.key_id):
            reset, _remaining = self._limiter.get_window_stats(self._limit, principal.key_id)
            retry = max(1, math.ceil(reset - time.time()))
            raise RateLimited(f"rate limit of {self._limit} exceeded", headers={"Retry-After": str(retry)})


def db_lookup(sessions: Callable[[], object]) -> Callable[[str], Principal | None]:
    """Key lookup in the reporting database."""

    def lookup(presented: str) -> Principal | None:
        with sessions() as session:  # type: ignore[attr-defined]
            key = find_key(session, presented)
            return Principal(key.id, frozenset(key.scopes)) if key else None

    return lookup


def require(scope: str) -> Any:
    """A router dependency: the caller's key must carry ``scope``."""

    async def dependency(request: Request) -> Principal:
        # ``async``: a known key with in-process rate limits is checked on the event loop, without the thread hop
        # of a plain dependency; a database read (a key not seen lately) or a Redis count goes to a thread.
        guard: Guard = request.app.state.runtime.guard
        presented = presented_key(request) or request.cookies.get(COOKIE)
        principal = guard.known(presented)
        if principal is None:
            principal = await run_in_threadpool(guard.principal, presented)
        if guard.in_process:
            guard.check(principal, scope)
        else:
            await run_in_threadpool(guard.check, principal, scope)
        return principal

    return Depends(dependency)


ReportsRead = require("reports:read")
