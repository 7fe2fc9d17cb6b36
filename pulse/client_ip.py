"""The client's IP address, for rate limits and lock-outs: one rule for the whole service.

`TRUSTED_PROXY_COUNT` says how many proxies in front of the app append to `X-Forwarded-For`:
- 0 (the default): the client is the connection's peer, `REMOTE_ADDR`; the header is ignored, because
  anyone can send it.
- N >= 1: each trusted proxy appended the address it received the request from, so the N-th entry
  from the right was written by the outermost trusted proxy and names the real client. Entries
  further left were sent by the client and prove nothing. A header with fewer than N entries did not
  pass through our proxies as configured (e.g. a client talking to the app directly, header and all):
  REMOTE_ADDR then, never a value the client may have written.

An entry that is not an IP address (garbage, "unknown", an empty slot) falls back to REMOTE_ADDR:
never to a value the client made up. A port a proxy added ("1.2.3.4:5678", "[::1]:80") is dropped.
"""

from __future__ import annotations

import ipaddress
import logging

from django.conf import settings

logger = logging.getLogger(__name__)

# No peer address at all (a unix socket, a request built in code): one shared rate-limit bucket,
# never a bypass; empty rather than a word, because django-axes stores the value as an IP address.
UNKNOWN = ""


def client_ip(request) -> str:
    """The address rate limits and lock-outs count against (see the module docstring)."""
    remote = _ip_or_none(request.META.get("REMOTE_ADDR", "")) or UNKNOWN
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    entries = [entry.strip() for entry in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if entries == [""]:
        return remote  # no proxy in front after all (a health probe, a direct connection)
    if len(entries) < proxies:
        return remote
    chosen = entries[-proxies]
    address = _ip_or_none(chosen)
    if address is None:
        logger.debug("X-Forwarded-For entry %r is not an IP address; using REMOTE_ADDR", chosen[:64])
        return remote
    return address


def _ip_or_none(value: str) -> str | None:
    """The canonical text of an IPv4/IPv6 address (a port or brackets removed), else None."""
    value = value.strip()
    if value.startswith("["):  # "[2001:db8::1]:443"
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # "203.0.113.7:5678"; a bare IPv6 address has several colons
        value = value.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None
