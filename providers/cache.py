"""The cache interface the clients use for tokens and indexes.

Django's cache (Redis in production) satisfies it, so every gunicorn worker shares one login and
one index. `MemoryCache` is for the plain-Python uses (smoke scripts, unit tests).
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol


class CacheLike(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...

    def set(self, key: str, value: Any, timeout: float | None = None) -> None: ...

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool: ...

    def delete(self, key: str) -> Any: ...


class MemoryCache:
    """A small thread-safe TTL cache with the subset of Django's cache API we use."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float | None, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return default
            expires, value = item
            if expires is not None and expires <= time.monotonic():
                del self._data[key]
                return default
            return value

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        expires = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._data[key] = (expires, value)

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        with self._lock:
            item = self._data.get(key)
            if item is not None and (item[0] is None or item[0] > time.monotonic()):
                return False
            self._data[key] = (None if timeout is None else time.monotonic() + timeout, value)
            return True

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
