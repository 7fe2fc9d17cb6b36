"""One place to watch what the providers do: subscribe a callback to a hook, receive every event.

Three hooks, each with a small frozen event:

- `provider_calls`: every HTTP request to a provider (`ProviderCall`: provider, endpoint with ids
  replaced by `{id}`, outcome, status, seconds), emitted by `providers.http.ProviderHttp`;
- `lookups`: every provider's part in a status check (`Lookup`: found / not_found / error:<code>),
  emitted by `providers.fanout`;
- `index_walks`: every walk of a provider list that builds an index (`IndexWalk`: full or head).

Prometheus metrics (`pulse.metrics`) subscribe here; so can anything else (for example an hourly
per-provider table). A subscriber that raises is logged and never breaks the call it watches.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

logger = logging.getLogger(__name__)

E = TypeVar("E")

# Path segments that are identifiers (UUIDs, numbers, ICCIDs), so endpoints stay a short list.
_ID_SEGMENT = re.compile(r"^(?=.*\d)[0-9A-Za-z%_.:-]{8,}$|^\d+$")


@dataclass(frozen=True)
class ProviderCall:
    provider: str
    method: str
    endpoint: str
    outcome: str  # "ok", "not_found", "timeout", "unavailable", "rejected", "auth_failed", ...
    status: int | None
    seconds: float


@dataclass(frozen=True)
class Lookup:
    provider: str
    outcome: str  # the answer's `sources` value: "found", "not_found", "error:<code>"
    seconds: float


@dataclass(frozen=True)
class IndexWalk:
    provider: str
    index: str
    kind: str  # "full" (every page) or "head" (the pages where new entries appear)
    outcome: str  # "ok" or "error"
    pages: int
    seconds: float


class Hook(Generic[E]):
    def __init__(self, name: str) -> None:
        self.name = name
        self._subscribers: tuple[Callable[[E], None], ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, callback: Callable[[E], None]) -> None:
        with self._lock:
            if callback not in self._subscribers:
                self._subscribers = (*self._subscribers, callback)

    def unsubscribe(self, callback: Callable[[E], None]) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s != callback)

    def emit(self, event: E) -> None:
        for callback in self._subscribers:
            try:
                callback(event)
            except Exception:  # an observer must never break the provider call it watches
                logger.exception("%s subscriber %r failed", self.name, callback)


provider_calls: Hook[ProviderCall] = Hook("provider_calls")
lookups: Hook[Lookup] = Hook("lookups")
index_walks: Hook[IndexWalk] = Hook("index_walks")


def endpoint_of(path: str) -> str:
    """`my-esims/3f2a...` -> `my-esims/{id}`: the endpoint without the identifiers in its path."""
    segments = path.strip("/").split("/")
    return "/".join("{id}" if _ID_SEGMENT.match(segment) else segment for segment in segments)
