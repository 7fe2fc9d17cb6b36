"""Bearer tokens issued by the simulated AirHub and eSIMCard logins, with expiry and forced invalidation."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable


class TokenStore:
    """Not thread-safe by itself: the world calls it under its lock."""

    def __init__(self, ttl_seconds: float = 3600, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._tokens: dict[str, dict[str, float]] = {}
        self._serial = 0

    def issue(self, provider: str) -> str:
        if provider == "esimcard":
            # Laravel Sanctum style "<id>|<opaque>" (providers.md §4.1).
            self._serial += 1
            token = f"{self._serial}|{secrets.token_urlsafe(30)}"
        else:
            token = secrets.token_urlsafe(32)
        self._tokens.setdefault(provider, {})[token] = self._clock() + self.ttl_seconds
        return token

    def is_valid(self, provider: str, token: str | None) -> bool:
        if not token:
            return False
        expiry = self._tokens.get(provider, {}).get(token)
        return expiry is not None and self._clock() < expiry

    def revoke(self, provider: str, token: str) -> None:
        self._tokens.get(provider, {}).pop(token, None)

    def invalidate_all(self, provider: str | None = None) -> None:
        if provider is None:
            self._tokens.clear()
        else:
            self._tokens.pop(provider, None)
