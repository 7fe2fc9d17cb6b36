"""Who gets an open checkout back (docs/renewals.md, "Who gets an open checkout back").

A create may return an order that is already open instead of opening a second checkout, but only
to the requester who created it, never to another customer (who would get the first one's order id,
checkout and e-mail). The requester is known by the `Idempotency-Key` header when it is sent, else by
the customer e-mail; without either, every create is a new order.

The order stores a keyed hash of (requester, eSIM, provider, bundle, currency) in the unique column
`reuse_key`, so the database alone lets one order per key exist: two creates racing on several
workers (with or without a shared cache) insert once, and the loser is handed the winner's order.
A key is released (set NULL) when its order can no longer be handed back (paid, closed, about to
expire, price changed), so the next create of that requester is free to insert a new order.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.utils.crypto import salted_hmac

from pulse.exceptions import Conflict
from pulse.models import OrderStatus, RenewalOrder

# An open checkout is handed back only while the customer still has time to pay it.
REUSE_MARGIN = timedelta(minutes=5)
# How long a twin request waits for the first one to open its checkout before answering 409.
TWIN_WAIT_SECONDS = 10.0
TWIN_POLL_SECONDS = 0.1
IDEMPOTENCY_KEY_MAX_LENGTH = 255


class CreateInProgress(Conflict):
    code = "create_in_progress"
    default_message = "This renewal is being created by another request; try again in a moment."


def requester_identity(*, idempotency_key: str, customer_email: str) -> str | None:
    """Who is asking, as far as reuse is concerned; None = unknown, never reuse. The e-mail is part
    of it even with a key: an order is never handed back with someone else's (or a mistyped) e-mail."""
    email = customer_email.strip().lower()
    if idempotency_key:
        return f"key:{idempotency_key}\nemail:{email}"
    if email:
        return f"email:{email}"
    return None


def reuse_key(identity: str, *, iccid: str, provider: str, bundle_code: str, currency: str) -> str:
    """HMAC-SHA256 with SECRET_KEY: the raw key or e-mail never reaches the column."""
    value = "\n".join((identity, iccid, provider, bundle_code, currency))
    return salted_hmac("pulse.renewal.reuse-key", value, algorithm="sha256").hexdigest()


def reusable(order: RenewalOrder, *, amount: Decimal, now: datetime) -> bool:
    """The order's checkout is open, at today's price, with time left to pay."""
    return (
        order.status == OrderStatus.PENDING
        and bool(order.checkout_session_id)
        and order.checkout_expires_at is not None
        and order.checkout_expires_at > now + REUSE_MARGIN
        and order.amount == amount
    )


def being_opened(order: RenewalOrder, *, now: datetime) -> bool:
    """Another request inserted the order and is still asking the gateway for its checkout."""
    return (
        order.status == OrderStatus.PENDING
        and not order.checkout_session_id
        and order.created_at > now - _longest_checkout_opening()
    )


def release(order: RenewalOrder) -> None:
    """Let the requester's next create insert a new order (compare-and-set: a twin may be first)."""
    RenewalOrder.objects.filter(pk=order.pk, reuse_key=order.reuse_key).update(reuse_key=None)


def _longest_checkout_opening() -> timedelta:
    # One gateway call with the SDK's retries, plus a margin; after that the opener has died.
    attempts = settings.STRIPE_MAX_NETWORK_RETRIES + 1
    return timedelta(seconds=settings.STRIPE_TIMEOUT * attempts + 30)
