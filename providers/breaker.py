"""A circuit breaker per provider, with its state in the shared cache so every worker sees it.

Closed: calls go through; each availability failure (timeout, connection, 5xx, 429, unreadable
answer) counts, any answer resets the count. Open: after `threshold` consecutive failures calls are
skipped (CircuitOpen, a ProviderUnavailable) for `cooldown` seconds. Half-open: after the cooldown one
caller — across all workers — is let through as a trial; success closes the breaker, failure opens it
again. "Not found" and refusals are answers, so they count as success.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from providers.base import CatalogBundle, EsimRecord, ProviderClient, TopUpRequest, TopUpResult, WalletBalance
from providers.cache import CacheLike
from providers.errors import CircuitOpen, ProviderResponseInvalid, ProviderUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
_UNREAD: Any = object()  # "the caller did not read the state already"


class CircuitBreaker:
    """State is one cache entry, `{"failures": n, "open_until": t}`, absent while all is well, so
    a healthy call costs a single cache read. Counting is read-modify-write: two workers failing at
    the same moment may count once, which only delays opening by a call."""

    def __init__(
        self,
        provider: str,
        cache: CacheLike,
        *,
        threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
        self._cache = cache
        self._clock = clock
        self._key = f"breaker:{provider}"
        self._trial_key = f"breaker:{provider}:trial"

    # --- state ---------------------------------------------------------------------------------

    @property
    def state_key(self) -> str:
        """The cache key of the state, for a caller that reads it together with other keys."""
        return self._key

    @staticmethod
    def entry_of(value: Any) -> dict | None:
        """The state as `_read` returns it, from the raw cache value read by a caller."""
        return value if isinstance(value, dict) else None

    def _read(self) -> dict | None:
        return self.entry_of(self._cache.get(self._key))

    def _state_of(self, entry: dict | None) -> str:
        open_until = (entry or {}).get("open_until")
        if open_until is None:
            return CLOSED
        return OPEN if self._clock() < open_until else HALF_OPEN

    def state(self) -> str:
        return self._state_of(self._read())

    def failures(self) -> int:
        return int((self._read() or {}).get("failures", 0))

    def before_call(self, seen: dict | None = _UNREAD) -> dict | None:
        """Raise CircuitOpen when the call must be skipped; else return the state seen (`seen`: the
        state the caller has just read, so it is not read again)."""
        entry = self._read() if seen is _UNREAD else seen
        open_until = (entry or {}).get("open_until")
        if open_until is None:
            return entry
        remaining = open_until - self._clock()
        if remaining > 0:
            raise CircuitOpen(self.provider, "skipped: the provider failed repeatedly", retry_after=remaining)
        # Half-open: one trial call for everyone; the others keep skipping until it reports back.
        if not self._cache.add(self._trial_key, 1, max(self.cooldown, 1)):
            raise CircuitOpen(
                self.provider, "skipped: a trial call is in progress", retry_after=self.cooldown
            )
        return entry

    def record_success(self, seen: dict | None = _UNREAD) -> None:
        entry = self._read() if seen is _UNREAD else seen
        if entry is None:
            return  # nothing recorded: nothing to clear (the common case costs no write)
        if entry.get("open_until") is not None:
            logger.info("%s circuit closed", self.provider, extra={"provider": self.provider})
            self._cache.delete(self._trial_key)
        self._cache.delete(self._key)

    def record_failure(self, seen: dict | None = _UNREAD) -> None:
        entry = self._read() if seen is _UNREAD else seen
        count = int((entry or {}).get("failures", 0)) + 1
        trial_failed = self._state_of(entry) == HALF_OPEN
        if count >= self.threshold or trial_failed:
            opened = {"failures": count, "open_until": self._clock() + self.cooldown}
            self._cache.set(self._key, opened, max(self.cooldown * 20, 600))
            self._cache.delete(self._trial_key)
            logger.warning(
                "%s circuit open for %.0f s after %d consecutive failures",
                self.provider,
                self.cooldown,
                count,
                extra={"provider": self.provider},
            )
            return
        self._cache.set(self._key, {"failures": count, "open_until": None}, max(self.cooldown * 20, 600))

    def reset(self) -> None:
        self._cache.delete(self._key)
        self._cache.delete(self._trial_key)

    def call(self, fn: Callable[[], T], *, seen: dict | None = _UNREAD) -> T:
        seen = self.before_call(seen)
        try:
            result = fn()
        except CircuitOpen:
            raise
        except (ProviderUnavailable, ProviderResponseInvalid):
            self.record_failure(seen)
            raise
        except Exception:
            # An answer (not found, refused) or a bug: the provider is reachable.
            self.record_success(seen)
            raise
        self.record_success(seen)
        return result


class GuardedClient:
    """A provider client whose every call goes through its circuit breaker."""

    def __init__(self, client: ProviderClient, breaker: CircuitBreaker) -> None:
        self.client = client
        self.breaker = breaker
        self.name = client.name

    def lookup(
        self,
        iccid: str,
        *,
        reference: str | None = None,
        install_code: bool = False,
        breaker_state: dict | None = _UNREAD,
    ) -> EsimRecord:
        """`breaker_state`: the breaker's state as the caller read it just now (`CircuitBreaker.entry_of`
        of the value under `breaker.state_key`), saving the breaker its own cache read."""
        return self.breaker.call(
            lambda: self.client.lookup(iccid, reference=reference, install_code=install_code),
            seen=breaker_state,
        )

    def catalogue(self) -> list[CatalogBundle]:
        return self.breaker.call(self.client.catalogue)

    def top_up(self, request: TopUpRequest) -> TopUpResult:
        return self.breaker.call(lambda: self.client.top_up(request))

    def find_top_up(self, request: TopUpRequest, *, since: datetime) -> TopUpResult | None:
        return self.breaker.call(lambda: self.client.find_top_up(request, since=since))

    def wallet(self) -> WalletBalance:
        return self.breaker.call(self.client.wallet)

    def probe(self) -> None:
        """Probes bypass an open breaker (they are how staff and health check on the provider)."""
        try:
            self.client.probe()
        except (ProviderUnavailable, ProviderResponseInvalid):
            self.breaker.record_failure()
            raise
        self.breaker.record_success()

    def __getattr__(self, name: str) -> Any:  # provider-specific extras (e.g. TravelRoam assignments)
        return getattr(self.client, name)
