"""Bearer tokens issued by the simulated AirHub and eSIMCard logins, with expiry and forced invalidation."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any


class TokenStore:
    """Not thread-safe by itself: the world calls it under its lock.

    Expiry times are wall-clock (``time.time``) because a shared world persists them in its state file,
    which other processes, and this one after a restart, read back (see ``export``/``restore``).
    """

    def __init__(self, ttl_seconds: float = 3600, clock: Callable[[], float] = time.time) -> None:
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
        now = self._clock()
        issued = self._tokens.setdefault(provider, {})
        for stale in [value for value, expiry in issued.items() if expiry <= now]:
            del issued[stale]  # a long-lived shared world must not keep every token ever issued
        issued[token] = now + self.ttl_seconds
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

    def export(self) -> dict[str, Any]:
        """The issued tokens as plain data, for the shared state file."""
        return {
            "tokens": {name: dict(issued) for name, issued in self._tokens.items()},
            "serial": self._serial,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Replace the issued tokens with ``export()``'s output (read back from the state file)."""
        self._tokens = {name: dict(issued) for name, issued in state["tokens"].items()}
        self._serial = state["serial"]
