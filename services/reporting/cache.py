"""A short-lived cache of computed reports: many people watching the same period cost one computation.

Reports are projections of data that changes every few seconds at most; ``LP_REPORT_CACHE_S`` (default 10 s,
0 turns it off) bounds how stale an answer can be. Keys include every query parameter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from cachetools import TTLCache

T = TypeVar("T")


class ReportCache:
    """Thread-safe TTL cache; concurrent misses on one key may each compute (no stampede protection needed)."""

    def __init__(self, ttl_s: float, max_entries: int = 512) -> None:
        self._cache: TTLCache[Hashable, Any] | None = TTLCache(max_entries, ttl_s) if ttl_s > 0 else None
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value of ``key``, computing it when missing or expired."""
        if self._cache is None:
            return compute()
        with self._lock:
            if key in self._cache:
                value: T = self._cache[key]
                return value
        value = compute()
        with self._lock:
            self._cache[key] = value
        return value
