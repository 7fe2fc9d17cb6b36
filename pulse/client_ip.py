"""Who the client is, by IP address, under one rule for the whole service (rate limits, admin lockout).

`X-Forwarded-For` is written by whoever sends the request, so it is trusted only as far as our own
proxies wrote it: with `TRUSTED_PROXY_COUNT=0` the client is the connection's address (`REMOTE_ADDR`)
and the header is ignored; with N ≥ 1 proxies in front of us, each appends the address it received the
request from, so the client is the N-th address from the right. Anything further left was sent by the
client and may be invented. A header with fewer than N addresses did not pass through our proxies as
configured: the connection's address is used then, never a client-written value.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = int(getattr(settings, "TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]
