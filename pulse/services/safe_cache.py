"""The shared cache, failing open: when Redis is down, reads miss and writes are dropped.

Tokens, indexes, status answers and health marks are optimisations; losing them costs extra
provider calls, never a failed check. The health endpoint reports the outage itself.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed

logger = logging.getLogger(__name__)
_WARN_EVERY_SECONDS = 30.0


class SafeCache:
    """One backend for the whole process (not Django's one per thread): the provider fan-out runs in
    thread pools, and a backend per thread would mean a Redis connection pool per thread."""

    def __init__(self, backend=None) -> None:
        self._given = backend
        self._shared = None
        self._lock = threading.Lock()
        self._last_warning = 0.0

    @property
    def _backend(self):
        if self._given is not None:
            return self._given
        if self._shared is None:
            with self._lock:
                if self._shared is None:
                    self._shared = caches.create_connection(DEFAULT_CACHE_ALIAS)
        return self._shared

    def prepare(self) -> None:
        """Build the backend and its client objects (importing the Redis client) without a command."""
        getattr(self._backend, "_cache", None)  # Django's RedisCache builds its client in this property

    def reset(self) -> None:
        with self._lock:
            self._shared = None

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

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """The keys that hold a value, in one round trip; {} when the cache is down."""
        try:
            return self._backend.get_many(keys)
        except Exception as exc:  # fail open: a cache outage is a miss
            self._failed("get_many", ", ".join(keys), exc)
            return {}

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


def _caches_changed(*, setting: str, **kwargs) -> None:
    if setting == "CACHES":
        safe_cache.reset()


setting_changed.connect(_caches_changed)
