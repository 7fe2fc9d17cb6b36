"""Work done once for every worker, and large values read cheaply by every worker.

`SingleFlight`: one builder at a time per key across all threads and processes. A short lock in the
shared cache (`add`, with a lease so a dead builder cannot block forever) picks the builder; the other
processes poll for its result, and the other threads of a process queue on a local lock, so a burst
of requests costs one login or one index walk instead of one per request.

`SharedSnapshot`: a large value (an index of thousands of eSIMs or orders) in the shared cache next
to a small head entry naming its version. A process keeps the value of the version it read last, so
a read costs one small GET; the large value is loaded again only when another process replaced it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from providers import concurrency
from providers.cache import CacheLike

logger = logging.getLogger(__name__)

T = TypeVar("T")

_POLL_SECONDS = 0.05


class FlightTimeout(TimeoutError):
    """Another worker's build did not finish within the wait."""


class SingleFlight:
    def __init__(self, cache: CacheLike, key: str, *, lease: float, poll: float = _POLL_SECONDS) -> None:
        self._cache = cache
        self.key = key
        self._lease = lease
        self._poll = poll
        self._local = threading.Lock()

    def busy(self) -> bool:
        """Whether some process is building right now."""
        return self._cache.get(self.key) is not None

    def run_in_background(self, rebuild: Callable[[], Any], *, provider: str, what: str) -> None:
        """Start `rebuild` in the "index" pool unless some process is building right now; the caller
        keeps using its stale value. A failure is only logged: the next lookup or scheduled run retries."""
        if not self.busy():
            concurrency.submit("index", _quietly, rebuild, provider, what)

    def run(self, build: Callable[[], T], *, ready: Callable[[], T | None], wait: float) -> T:
        """`ready()` is the result when somebody has built it (for example a cache read), else None.

        Builds when nobody else is building; otherwise waits up to `wait` seconds for the other
        builder's result, and builds itself when that builder gave up (its lock went without a result).
        """
        deadline = time.monotonic() + wait
        if not self._local.acquire(timeout=max(wait, 0.0)):
            raise FlightTimeout(self.key)
        try:
            while True:
                value = ready()
                if value is not None:
                    return value
                if self._cache.add(self.key, 1, self._lease):
                    try:
                        value = ready()  # finished elsewhere between our look and taking the lock
                        return value if value is not None else build()
                    finally:
                        self._cache.delete(self.key)
                value = self._wait_for_other(ready, deadline)
                if value is not None:
                    return value
        finally:
            self._local.release()

    def _wait_for_other(self, ready: Callable[[], T | None], deadline: float) -> T | None:
        while self.busy():
            if time.monotonic() >= deadline:
                raise FlightTimeout(self.key)
            time.sleep(self._poll)
            value = ready()
            if value is not None:
                return value
        return None  # the other builder ended without a result: the caller tries itself


def _quietly(rebuild: Callable[[], Any], provider: str, what: str) -> None:
    try:
        rebuild()
    except Exception as exc:  # a background refresh: the next lookup or run tries again
        logger.warning("%s %s rebuild failed: %s", provider, what, exc, extra={"provider": provider})


class SharedSnapshot:
    """A value plus small metadata (`meta`, a dict) shared through the cache, read cheaply."""

    def __init__(self, cache: CacheLike, key: str, *, ttl: float) -> None:
        self._cache = cache
        self.key = key
        self._ttl = ttl
        self._local: tuple[str, Any] | None = None  # (version, value) this process read last

    def get(self) -> tuple[Any, dict[str, Any]] | None:
        head = self._cache.get(self.key)
        if not isinstance(head, dict) or "version" not in head:
            return None
        version = head["version"]
        local = self._local
        if local is not None and local[0] == version:
            return local[1], head
        value = self._cache.get(f"{self.key}:{version}")
        if value is None:
            return None  # evicted or expired before its head
        self._local = (version, value)
        return value, head

    def put(self, value: Any, meta: dict[str, Any]) -> dict[str, Any]:
        """Store a new version; returns its head."""
        version = uuid.uuid4().hex[:12]
        self._cache.set(f"{self.key}:{version}", value, self._ttl)
        head = {**meta, "version": version}
        self._cache.set(self.key, head, self._ttl)
        self._local = (version, value)
        return head

    def update_meta(self, head: dict[str, Any], **changes: Any) -> dict[str, Any]:
        """Change the metadata of the current version without writing the value again."""
        new_head = {**head, **changes}
        self._cache.set(self.key, new_head, self._ttl)
        return new_head

    def delete(self) -> None:
        self._cache.delete(self.key)
        self._local = None
