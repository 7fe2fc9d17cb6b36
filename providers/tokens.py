"""Login tokens kept in the shared cache and reused until the provider refuses them.

A process-local lock makes concurrent requests of one worker wait for a single login instead of
each logging in; across workers a short login lock in the shared cache does the same, so a cold
burst over several workers still costs one login (providers that keep one session per account
would otherwise revoke each worker's token with the next worker's login).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from providers.cache import CacheLike
from providers.errors import ProviderAuthError
from providers.shared import SingleFlight

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_TTL = 50 * 60  # providers do not document a lifetime; a 401 refreshes sooner
# How long other workers wait for a login in progress elsewhere before logging in themselves. A login
# is one call with the provider timeout; past this, the lock holder is taken to have died.
LOGIN_LOCK_SECONDS = 15.0
# A process reuses the token it read for this long without asking the cache again. A token another
# worker replaced meanwhile is refused by the provider (401), which fetches the new one at once.
LOCAL_TOKEN_SECONDS = 30.0


class TokenStore:
    """Caches one login result (any picklable value, e.g. token + partner code) per credential."""

    def __init__(
        self,
        cache: CacheLike,
        key: str,
        login: Callable[[], Any],
        *,
        ttl: float = DEFAULT_TOKEN_TTL,
    ) -> None:
        self._cache = cache
        self.key = key
        self._login = login
        self._ttl = ttl
        # One login at a time for every thread and worker; a login is one call with the provider
        # timeout, so a lock older than LOGIN_LOCK_SECONDS belongs to a worker that died.
        self._flight = SingleFlight(cache, f"{key}:login-lock", lease=LOGIN_LOCK_SECONDS)
        self._local: tuple[Any, float] | None = None  # (token, when this process read it)

    def get(self) -> Any:
        local = self._local
        if local is not None and time.monotonic() - local[1] < LOCAL_TOKEN_SECONDS:
            return local[0]
        value = self._cached()
        if value is None:
            value = self._flight.run(self._login_and_store, ready=self._cached, wait=2 * LOGIN_LOCK_SECONDS)
        self._local = (value, time.monotonic())
        return value

    def _cached(self) -> Any:
        return self._cache.get(self.key)

    def _login_and_store(self) -> Any:
        value = self._login()
        self._cache.set(self.key, value, self._ttl)
        return value

    def invalidate(self, rejected: Any) -> None:
        """Forget the token the provider refused, unless another worker already replaced it."""
        self._local = None
        if self._cache.get(self.key) == rejected:
            self._cache.delete(self.key)

    def refresh(self, rejected: Any) -> Any:
        self.invalidate(rejected)
        return self.get()


def credential_key(provider: str, identity: str) -> str:
    """A cache key per provider account that does not contain the user name itself."""
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return f"provider:{provider}:login:{digest}"


def call_with_token(store: TokenStore, call: Callable[[Any], Any]) -> Any:
    """Run `call(token)`; when the provider refuses the token, log in again once and retry.

    Safe for top-ups too: a 401/403 means the provider did not process the request.
    """
    token = store.get()
    try:
        return call(token)
    except ProviderAuthError:
        logger.info("token refused; logging in again once", extra={"token_key": store.key})
        return call(store.refresh(token))
