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

from providers.base import CatalogBundle, EsimRecord, ProviderClient, TopUpRequest, TopUpResult
from providers.cache import CacheLike
from providers.errors import CircuitOpen, ProviderResponseInvalid, ProviderUnavailable

logger = logging.getLogger(__name__)
T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class CircuitBreaker:
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
        prefix = f"breaker:{provider}"
        self._failures_key = f"{prefix}:failures"
        self._open_until_key = f"{prefix}:open-until"
        self._trial_key = f"{prefix}:trial"

    # --- state ---------------------------------------------------------------------------------

    def state(self) -> str:
        open_until = self._cache.get(self._open_until_key)
        if open_until is None:
            return CLOSED
        return OPEN if self._clock() < open_until else HALF_OPEN

    def failures(self) -> int:
        return int(self._cache.get(self._failures_key) or 0)

    def before_call(self) -> None:
        """Raise CircuitOpen when the call must be skipped."""
        open_until = self._cache.get(self._open_until_key)
        if open_until is None:
            return
        remaining = open_until - self._clock()
        if remaining > 0:
            raise CircuitOpen(self.provider, "skipped: the provider failed repeatedly", retry_after=remaining)
        # Half-open: one trial call for everyone; the others keep skipping until it reports back.
        if not self._cache.add(self._trial_key, 1, max(self.cooldown, 1)):
            raise CircuitOpen(
                self.provider, "skipped: a trial call is in progress", retry_after=self.cooldown
            )

    def record_success(self) -> None:
        if self._cache.get(self._open_until_key) is not None:
            logger.info("%s circuit closed", self.provider, extra={"provider": self.provider})
        self._cache.delete(self._open_until_key)
        self._cache.delete(self._trial_key)
        self._cache.delete(self._failures_key)

    def record_failure(self) -> None:
        count = self.failures() + 1
        # No atomic increment in every cache backend: a lost update only delays opening by a call.
        self._cache.set(self._failures_key, count, max(self.cooldown * 10, 300))
        half_open = self.state() == HALF_OPEN
        if count >= self.threshold or half_open:
            self._cache.set(self._open_until_key, self._clock() + self.cooldown, self.cooldown * 20)
            self._cache.delete(self._trial_key)
            logger.warning(
                "%s circuit open for %.0f s after %d consecutive failures",
                self.provider,
                self.cooldown,
                count,
                extra={"provider": self.provider},
            )

    def reset(self) -> None:
        self.record_success()

    def call(self, fn: Callable[[], T]) -> T:
        self.before_call()
        try:
            result = fn()
        except CircuitOpen:
            raise
        except (ProviderUnavailable, ProviderResponseInvalid):
            self.record_failure()
            raise
        except Exception:
            # An answer (not found, refused) or a bug: the provider is reachable.
            self.record_success()
            raise
        self.record_success()
        return result


class GuardedClient:
    """A provider client whose every call goes through its circuit breaker."""

    def __init__(self, client: ProviderClient, breaker: CircuitBreaker) -> None:
        self.client = client
        self.breaker = breaker
        self.name = client.name

    def lookup(self, iccid: str, *, reference: str | None = None) -> EsimRecord:
        return self.breaker.call(lambda: self.client.lookup(iccid, reference=reference))

    def catalogue(self) -> list[CatalogBundle]:
        return self.breaker.call(self.client.catalogue)

    def top_up(self, request: TopUpRequest) -> TopUpResult:
        return self.breaker.call(lambda: self.client.top_up(request))

    def find_top_up(self, request: TopUpRequest, *, since: datetime) -> TopUpResult | None:
        return self.breaker.call(lambda: self.client.find_top_up(request, since=since))

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
