"""A small, thread-safe, per-process memory of recent values: each kept `max_age` seconds, at most
`max_entries` of them (the least recently stored go first).

For provider data that changes rarely and is cheap to be a little late about (a TravelRoam eSIM's
network location), so that a warm check does not pay a provider call for it every time. Per process
on purpose: nothing to share, no cache round trip.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class RecentValues(Generic[V]):
    def __init__(
        self, *, max_age: float, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self._max_entries = max(1, max_entries)
        self._clock = clock
        self._values: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> V | None:
        """The value, or None when absent or stored `max_age` seconds ago or earlier."""
        with self._lock:
            entry = self._values.get(key)
        if entry is None or self._clock() - entry[0] >= self.max_age:
            return None
        return entry[1]

    def put(self, key: str, value: V) -> None:
        if self.max_age <= 0:
            return
        with self._lock:
            self._values[key] = (self._clock(), value)
            self._values.move_to_end(key)
            while len(self._values) > self._max_entries:
                self._values.popitem(last=False)
