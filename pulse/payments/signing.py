"""Stripe's webhook signature scheme, for the sandbox gateway (and for tests).

Header: ``t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw body}")>[,v1=...]`` (payments.md
§1.4; `stripe.WebhookSignature` in stripe 16.1.0 computes the same). The sandbox signs its events
with this so they travel the same verify-then-parse path as Stripe's; the Stripe gateway itself
verifies with the SDK.

One deliberate difference from the SDK: a timestamp more than `tolerance` seconds in the FUTURE is
rejected too (the SDK only rejects old ones). Signer and verifier share a clock here, so a future
timestamp can only be forged or broken.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from pulse.payments.base import InvalidSignature

DEFAULT_TOLERANCE = 300  # seconds, as stripe.Webhook.DEFAULT_TOLERANCE
SCHEME = "v1"


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def compute_signature(body: bytes | str, secret: str, timestamp: int) -> str:
    message = str(timestamp).encode() + b"." + _as_bytes(body)
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(body: bytes | str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``body``."""
    if not secret:
        raise ValueError("a signing secret is required")
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={timestamp},{SCHEME}={compute_signature(body, secret, timestamp)}"


def _parse_header(header: str) -> tuple[int, list[str]]:
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamps.append(value)
        elif key == SCHEME:
            signatures.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit():
        raise InvalidSignature("The signature header has no single valid timestamp.")
    if not signatures:
        raise InvalidSignature(f"The signature header has no {SCHEME} signature.")
    return int(timestamps[0]), signatures


def verify(
    body: bytes | str,
    header: str | None,
    secret: str,
    tolerance: int = DEFAULT_TOLERANCE,
    *,
    now: float | None = None,
) -> int:
    """Check ``header`` against the RAW ``body``; returns the signed timestamp or raises InvalidSignature.

    Any one matching ``v1`` passes (Stripe sends several while a secret is being rolled). Each
    comparison is constant-time. ``tolerance=0`` turns the age check off, as in the SDK.
    """
    if not header:
        raise InvalidSignature("No signature header was sent.")
    if not secret:
        raise InvalidSignature("No webhook secret is configured, so no signature can be checked.")
    timestamp, signatures = _parse_header(header)
    expected = compute_signature(body, secret, timestamp).encode()
    # Bytes, not str: compare_digest raises on non-ASCII str, and the header is untrusted input.
    matches = [hmac.compare_digest(expected, candidate.encode("utf-8")) for candidate in signatures]
    if not any(matches):
        raise InvalidSignature("No signature matches the body (wrong secret or tampered body).")
    current = time.time() if now is None else now
    if tolerance and abs(current - timestamp) > tolerance:
        raise InvalidSignature(f"The signature timestamp is outside the {tolerance} s tolerance.")
    return timestamp
