"""Per-client-IP rate limits per endpoint, counted in the shared cache (so all workers agree).

The client IP is `pulse.client_ip.client_ip` (REMOTE_ADDR, or the address the trusted proxies saw:
TRUSTED_PROXY_COUNT), never DRF's own reading of X-Forwarded-For.

Rates live in settings.THROTTLE_RATES (read on every request, so override_settings and a restart
with new env both work). A view opts in with `throttle_scope`; the webhook has no scope. A cache
outage lets requests through rather than failing them (the counter is only a guard).
DRF's own caveat applies: the count is not atomic, so a burst can pass a few requests over the limit.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle

from pulse.client_ip import client_ip
from pulse.services.safe_cache import safe_cache


class ScopedIpThrottle(SimpleRateThrottle):
    cache = safe_cache

    def __init__(self) -> None:  # the rate is chosen per view in allow_request
        self.scope = None
        self.rate = None

    def allow_request(self, request, view) -> bool:
        self.scope = getattr(view, "throttle_scope", None)
        self.rate = settings.THROTTLE_RATES.get(self.scope) if self.scope else None
        if not self.rate:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_ident(self, request) -> str:
        return client_ip(request)

    def get_cache_key(self, request, view) -> str:
        return f"throttle:{self.scope}:{self.get_ident(request)}"
