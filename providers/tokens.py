"""Login tokens kept in the shared cache and reused until the provider refuses them.

A process-local lock makes concurrent requests of one worker wait for a single login instead of
each logging in; across workers the shared cache means one login per token lifetime.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from providers.cache import CacheLike
from providers.errors import ProviderAuthError

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_TTL = 50 * 60  # providers do not document a lifetime; a 401 refreshes sooner


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
        self._lock = threading.Lock()

    def get(self) -> Any:
        value = self._cache.get(self.key)
        if value is not None:
            return value
        with self._lock:
            value = self._cache.get(self.key)  # another thread may have logged in meanwhile
            if value is None:
                value = self._login()
                self._cache.set(self.key, value, self._ttl)
        return value

    def invalidate(self, rejected: Any) -> None:
        """Forget the token the provider refused, unless another worker already replaced it."""
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
