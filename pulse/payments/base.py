"""The payment gateway contract: request/result dataclasses, errors, and the PaymentGateway Protocol.

Two implementations: `StripeGateway` (Stripe Checkout through the official SDK) and `SandboxGateway`
(no keys; sessions in our own database). Order logic codes against this module only, never against
`stripe` (docs/payments.md). Every amount crossing this interface as an int is in Stripe minor units
(`pulse.payments.minor_units`); currencies are upper-case ISO codes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

# The Stripe API version we speak (the one stripe-python 16.1.0 pins). The sandbox stamps its events
# with it too, so both gateways hand the webhook handler the same shapes.
STRIPE_API_VERSION = "2026-10-28.endive"

# Stripe accepts Checkout `expires_at` between 30 minutes and 24 hours after creation; the margin
# absorbs the time between computing the value and Stripe receiving it.
CHECKOUT_MIN_LIFETIME = timedelta(minutes=30)
CHECKOUT_MAX_LIFETIME = timedelta(hours=24)
_EXPIRY_MARGIN = timedelta(seconds=60)


# A PaymentIntent in these states holds no money and will not settle by itself: a delayed payment
# that failed goes back to requires_payment_method (https://docs.stripe.com/payments/paymentintents/lifecycle).
PAYMENT_INTENT_FAILED = frozenset({"requires_payment_method", "canceled"})


@dataclass(frozen=True)
class CheckoutRequest:
    order_id: str
    amount: Decimal
    currency: str
    product_name: str
    description: str
    customer_email: str
    success_url: str
    cancel_url: str
    expires_at: datetime
    idempotency_key: (
        str  # "checkout:<order_id>:<attempt>": a retry with the same key never opens a 2nd session
    )
    metadata: dict[str, str]


@dataclass(frozen=True)
class CheckoutInfo:
    session_id: str
    url: str
    expires_at: datetime | None
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class CheckoutState:
    session_id: str
    status: str  # open | complete | expired
    payment_status: str  # paid | unpaid | no_payment_required
    amount_minor: int
    currency: str  # upper-case ISO
    client_reference_id: str | None
    payment_intent_id: str | None
    metadata: dict[str, str]
    raw: dict = field(repr=False)
    # The PaymentIntent's own status (requires_payment_method | processing | succeeded | canceled …),
    # None while the session has none. With `status`/`payment_status` it tells a delayed payment that
    # is still settling from one that failed (both are `complete` + `unpaid`).
    payment_intent_status: str | None = None

    @property
    def payment_failed(self) -> bool:
        """The customer finished checkout but the gateway says the payment did not go through.

        An open session never counts: the customer can still pay it, whatever an event says.
        """
        return (
            self.status == "complete"
            and self.payment_status == "unpaid"
            and self.payment_intent_status in PAYMENT_INTENT_FAILED
        )


@dataclass(frozen=True)
class RefundInfo:
    refund_id: str
    status: str  # pending | requires_action | succeeded | failed | canceled
    amount_minor: int
    currency: str  # upper-case ISO
    payment_intent_id: str | None
    metadata: dict[str, str]
    raw: dict = field(repr=False)


@dataclass(frozen=True)
class GatewayEvent:
    """A verified webhook event, reduced to what routing needs; `payload` is the whole event as sent."""

    event_id: str
    type: str
    livemode: bool
    api_version: str
    object_type: str  # data.object.object: "checkout.session", "refund", "charge", ...
    session_id: str | None
    refund_id: str | None
    payment_intent_id: str | None
    order_id: str | None  # metadata["order_id"], else client_reference_id; None = not one of ours
    payload: dict = field(repr=False)


class GatewayError(Exception):
    """A gateway call failed. `message` is safe to log (no keys); `retryable` says whether trying the
    same call again later (with the same idempotency key) may succeed."""

    retryable = False

    def __init__(
        self, message: str, *, gateway: str = "", status_code: int | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.gateway = gateway
        self.status_code = status_code
        self.code = code


class GatewayUnavailable(GatewayError):
    """Network error, timeout, 5xx, 409 or 429: nothing is known to have changed; retry later."""

    retryable = True


class GatewayRejected(GatewayError):
    """The gateway refused the request (invalid request, bad credentials, idempotency key reused with
    other parameters, unsupported currency). Retrying the same call will fail the same way."""


class CheckoutNotFound(GatewayError):
    """The gateway does not know this Checkout Session id."""


class InvalidSignature(GatewayError):
    """A webhook whose signature is missing, malformed, wrong, stale, or whose body was tampered with
    (or that is not an event at all). Answer 400 and store nothing."""


@runtime_checkable
class PaymentGateway(Protocol):
    name: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutInfo:
        """Open a hosted checkout for one order. Idempotent per `request.idempotency_key`."""
        ...

    def retrieve_checkout(self, session_id: str) -> CheckoutState:
        """The session as the gateway sees it now (never trust a redirect or an event's copy)."""
        ...

    def expire_checkout(self, session_id: str) -> None:
        """Close an open session so it can no longer be paid; no-op if already complete/expired."""
        ...

    def refund(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> RefundInfo:
        """Refund (part of) a payment. The same `idempotency_key` ("refund:<order_id>") returns the
        same refund, never a second one. `failed`/`canceled` is a result, not an exception."""
        ...

    def retrieve_refund(self, refund_id: str) -> RefundInfo: ...

    def parse_webhook(self, body: bytes, signature_header: str | None) -> GatewayEvent:
        """Verify the signature over the RAW request body, then parse. Raises InvalidSignature."""
        ...


# --- helpers shared by both gateways ---------------------------------------------------------------


def clamp_checkout_expiry(expires_at: datetime, now: datetime) -> datetime:
    """Keep `expires_at` inside the window Stripe accepts (30 min .. 24 h from now, with a margin)."""
    earliest = now + CHECKOUT_MIN_LIFETIME + _EXPIRY_MARGIN
    latest = now + CHECKOUT_MAX_LIFETIME - _EXPIRY_MARGIN
    return min(max(expires_at, earliest), latest)


def from_unix(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def object_id(value: Any) -> str | None:
    """A reference that may be an id string or an expanded object (`{"id": ...}`)."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def string_metadata(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(key): str(item) for key, item in value.items() if item is not None}


def checkout_state_from_session(session: Mapping[str, Any], raw: dict) -> CheckoutState:
    """Build a CheckoutState from a Stripe-shaped Checkout Session (Stripe's or the sandbox's).

    With `payment_intent` expanded (an object, not an id) its status is read too; `raw` keeps only
    the id, so a PaymentIntent's client secret is never stored.
    """
    intent = session.get("payment_intent")
    intent_status = intent.get("status") if isinstance(intent, Mapping) else None
    if isinstance(intent, Mapping):
        raw = {**raw, "payment_intent": object_id(intent)}
    return CheckoutState(
        session_id=str(session["id"]),
        status=str(session.get("status") or ""),
        payment_status=str(session.get("payment_status") or ""),
        amount_minor=int(session.get("amount_total") or 0),
        currency=str(session.get("currency") or "").upper(),
        client_reference_id=session.get("client_reference_id") or None,
        payment_intent_id=object_id(session.get("payment_intent")),
        metadata=string_metadata(session.get("metadata")),
        raw=raw,
        payment_intent_status=str(intent_status) if intent_status else None,
    )


def refund_info_from_refund(refund: Mapping[str, Any], raw: dict) -> RefundInfo:
    return RefundInfo(
        refund_id=str(refund["id"]),
        status=str(refund.get("status") or ""),
        amount_minor=int(refund.get("amount") or 0),
        currency=str(refund.get("currency") or "").upper(),
        payment_intent_id=object_id(refund.get("payment_intent")),
        metadata=string_metadata(refund.get("metadata")),
        raw=raw,
    )


def event_from_payload(payload: Mapping[str, Any], *, gateway: str) -> GatewayEvent:
    """Reduce a verified Stripe-shaped event to a GatewayEvent. Raises InvalidSignature when the
    signed body is not an event at all (only a broken sender could do that)."""
    data = payload.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not payload.get("id") or not payload.get("type") or not isinstance(obj, Mapping):
        raise InvalidSignature(
            "The webhook body is not an event (no id, type or data.object).", gateway=gateway
        )
    object_type = str(obj.get("object") or "")
    metadata = string_metadata(obj.get("metadata"))
    session_id = refund_id = payment_intent_id = None
    if object_type == "checkout.session":
        session_id = object_id(obj.get("id"))
        payment_intent_id = object_id(obj.get("payment_intent"))
    elif object_type == "refund":
        refund_id = object_id(obj.get("id"))
        payment_intent_id = object_id(obj.get("payment_intent"))
    elif object_type == "charge":
        payment_intent_id = object_id(obj.get("payment_intent"))
    elif object_type == "payment_intent":
        payment_intent_id = object_id(obj.get("id"))
    order_id = metadata.get("order_id") or obj.get("client_reference_id") or None
    return GatewayEvent(
        event_id=str(payload["id"]),
        type=str(payload["type"]),
        livemode=bool(payload.get("livemode", False)),
        api_version=str(payload.get("api_version") or ""),
        object_type=object_type,
        session_id=session_id,
        refund_id=refund_id,
        payment_intent_id=payment_intent_id,
        order_id=str(order_id) if order_id else None,
        payload=dict(payload),
    )
