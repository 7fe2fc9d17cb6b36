"""The shared cache, failing open: when Redis is down, reads miss and writes are dropped.

Tokens, indexes, status answers and health marks are optimisations; losing them costs extra
provider calls, never a failed check. The health endpoint reports the outage itself.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.core.cache import cache as django_cache

logger = logging.getLogger(__name__)
_WARN_EVERY_SECONDS = 30.0


class SafeCache:
    def __init__(self, backend=django_cache) -> None:
        self._backend = backend
        self._last_warning = 0.0

    def _failed(self, operation: str, key: str, error: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_SECONDS:
            self._last_warning = now
            logger.warning(
                "cache %s failed for %s (%s: %s); continuing without the cache",
                operation,
                key,
                type(error).__name__,
                error,
            )

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self._backend.get(key, default)
        except Exception as exc:  # fail open: a cache outage is a miss
            self._failed("get", key, exc)
            return default

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        try:
            self._backend.set(key, value, timeout)
        except Exception as exc:  # fail open: the value is simply not kept
            self._failed("set", key, exc)

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        try:
            return bool(self._backend.add(key, value, timeout))
        except Exception as exc:  # fail open: behave as if the key was free
            self._failed("add", key, exc)
            return True

    def delete(self, key: str) -> None:
        try:
            self._backend.delete(key)
        except Exception as exc:  # fail open
            self._failed("delete", key, exc)


safe_cache = SafeCache()
