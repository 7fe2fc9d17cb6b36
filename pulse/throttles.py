"""Per-client-IP rate limits per endpoint, counted in the shared cache (so all workers agree).

The client IP is `pulse.client_ip.client_ip` (REMOTE_ADDR, or the address the trusted proxies saw:
TRUSTED_PROXY_COUNT), never DRF's own reading of X-Forwarded-For.

Rates live in settings.THROTTLE_RATES (read on every request, so override_settings and a restart
with new env both work). A view opts in with `throttle_scope`; the webhook has no scope. A cache
outage lets requests through rather than failing them (the counter is only a guard).
DRF's own caveat applies: the count is not atomic, so a burst can pass a few requests over the limit.
"""

from __future__ import annotations

import hashlib

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


class AlertEmailThrottle(ScopedIpThrottle):
    """Alert subscriptions per e-mail address (scope `alerts_email`), whatever the client IP: one
    address cannot be flooded with confirmation e-mails from many machines. The address is hashed in
    the cache key; a body without a usable address is left to the IP throttle and the validation."""

    scope_name = "alerts_email"

    def allow_request(self, request, view) -> bool:
        self.scope = self.scope_name
        self.rate = settings.THROTTLE_RATES.get(self.scope)
        self.email = _email_of(request)
        if not self.rate or not self.email:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return SimpleRateThrottle.allow_request(self, request, view)

    def get_cache_key(self, request, view) -> str:
        digest = hashlib.sha256(self.email.encode()).hexdigest()[:32]
        return f"throttle:{self.scope}:{digest}"


def _email_of(request) -> str:
    data = request.data
    email = data.get("email") if isinstance(data, dict) else None
    return email.strip().lower()[:254] if isinstance(email, str) else ""
