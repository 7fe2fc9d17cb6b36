"""Stripe Checkout through the official SDK (stripe 16.1.0), behind the PaymentGateway interface.

The only module that imports `stripe`. One `StripeClient` instance per gateway (no global
`stripe.api_key`), pointed at `STRIPE_API_BASE` so tests and staging can use a local
Stripe-compatible server (`tests/fakes/stripe`). Every POST carries OUR idempotency key,
which the SDK also reuses for its own network retries (payments.md §1.5).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from pulse.payments.base import (
    STRIPE_API_VERSION,
    CheckoutInfo,
    CheckoutNotFound,
    CheckoutRequest,
    CheckoutState,
    GatewayError,
    GatewayEvent,
    GatewayRejected,
    GatewayUnavailable,
    InvalidSignature,
    RefundInfo,
    checkout_state_from_session,
    clamp_checkout_expiry,
    event_from_payload,
    from_unix,
    refund_info_from_refund,
)
from pulse.payments.minor_units import to_minor

logger = logging.getLogger(__name__)

WEBHOOK_TOLERANCE = 300  # seconds; stripe.Webhook.DEFAULT_TOLERANCE
_LIVE_PREFIXES = ("sk_live_", "rk_live_")
_TEST_PREFIXES = ("sk_test_", "rk_test_")


class StripeGateway:
    name = "stripe"

    def __init__(self) -> None:
        key = settings.STRIPE_SECRET_KEY
        if not key:
            raise ImproperlyConfigured(
                "PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY (or set PAYMENT_GATEWAY=sandbox for development)."
            )
        _check_live_mode(key, settings.STRIPE_LIVE_MODE)
        timeout = float(settings.STRIPE_TIMEOUT)
        self._client = stripe.StripeClient(
            key,
            base_addresses={"api": settings.STRIPE_API_BASE},
            stripe_version=STRIPE_API_VERSION,
            max_network_retries=int(settings.STRIPE_MAX_NETWORK_RETRIES),
            # (connect, read): the SDK's default is 80 s, far longer than a request should hang.
            http_client=stripe.RequestsClient(timeout=(min(3.05, timeout), timeout)),
        )
        self._webhook_secret = settings.STRIPE_WEBHOOK_SECRET
        self._live_mode = bool(settings.STRIPE_LIVE_MODE)

    # --- Checkout ------------------------------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> CheckoutInfo:
        params = self._session_params(request)
        # Reference: https://docs.stripe.com/api/checkout/sessions/create
        session = self._call(
            "create checkout",
            lambda: self._client.v1.checkout.sessions.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            ),
            order_id=request.order_id,
        )
        logger.info(
            "stripe checkout %s opened for order %s (%s %s)",
            session["id"],
            request.order_id,
            params["line_items"][0]["price_data"]["unit_amount"],
            request.currency.upper(),
        )
        return CheckoutInfo(
            session_id=session["id"],
            url=session.get("url") or "",
            expires_at=from_unix(session.get("expires_at")),
            raw=session,
        )

    def _session_params(self, request: CheckoutRequest) -> dict[str, Any]:
        try:
            unit_amount = to_minor(request.amount, request.currency)
        except (TypeError, ValueError) as exc:
            raise GatewayRejected(str(exc), gateway=self.name, code="unsupported_amount") from exc
        if unit_amount <= 0:
            raise GatewayRejected(
                "A checkout amount must be positive.", gateway=self.name, code="unsupported_amount"
            )
        metadata = {**request.metadata, "order_id": request.order_id}
        product: dict[str, Any] = {"name": request.product_name}
        if request.description:  # Stripe refuses an empty string here ("cannot be unset")
            product["description"] = request.description[:500]
        expires_at = clamp_checkout_expiry(request.expires_at, timezone.now())
        params: dict[str, Any] = {
            "mode": "payment",
            "payment_method_types": ["card"],
            "line_items": [
                {
                    "price_data": {
                        "currency": request.currency.lower(),  # Stripe wants lower-case ISO codes
                        "unit_amount": unit_amount,
                        "product_data": product,
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": request.order_id,
            "metadata": metadata,
            # Session metadata is not copied to the PaymentIntent; refund and charge events only
            # name our order if the PaymentIntent carries it too (payments.md §1.6).
            "payment_intent_data": {"metadata": metadata},
            "expires_at": int(expires_at.timestamp()),
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.customer_email:
            params["customer_email"] = request.customer_email
        return params

    def retrieve_checkout(self, session_id: str) -> CheckoutState:
        # Reference: https://docs.stripe.com/api/checkout/sessions/retrieve and
        # https://docs.stripe.com/expand: the PaymentIntent comes in the same call, so its status tells a
        # delayed payment still settling from one that failed (the session says complete + unpaid for both).
        session = self._call(
            "retrieve checkout",
            lambda: self._client.v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["payment_intent"]}
            ),
            session_id=session_id,
            not_found=CheckoutNotFound,
        )
        return checkout_state_from_session(session, session)

    def expire_checkout(self, session_id: str) -> None:
        # Reference: https://docs.stripe.com/api/checkout/sessions/expire
        try:
            self._call(
                "expire checkout",
                lambda: self._client.v1.checkout.sessions.expire(session_id),
                session_id=session_id,
                not_found=CheckoutNotFound,
                expected_refusal=True,  # "not open" is the usual reason; checked below
            )
        except GatewayRejected:
            # Stripe refuses to expire a session that is no longer open; if it was paid or expired
            # meanwhile there is nothing to do. Anything else is a real refusal.
            if self.retrieve_checkout(session_id).status == "open":
                logger.error("stripe refused to expire open checkout %s", session_id)
                raise
            logger.info("stripe checkout %s was already closed; nothing to expire", session_id)

    # --- Refunds -------------------------------------------------------------------------------------

    def refund(
        self,
        *,
        payment_intent_id: str,
        amount_minor: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> RefundInfo:
        if amount_minor <= 0:
            raise GatewayRejected(
                "A refund amount must be positive.", gateway=self.name, code="invalid_amount"
            )
        params = {"payment_intent": payment_intent_id, "amount": amount_minor, "metadata": dict(metadata)}
        # Reference: https://docs.stripe.com/api/refunds/create
        refund = self._call(
            "refund",
            lambda: self._client.v1.refunds.create(
                params=params, options={"idempotency_key": idempotency_key}
            ),
            payment_intent_id=payment_intent_id,
        )
        info = refund_info_from_refund(refund, refund)
        if info.currency != currency.upper():
            # Stripe refunds in the charge's currency; a mismatch means our order and Stripe disagree.
            logger.error(
                "stripe refund %s is in %s but the order is in %s",
                info.refund_id,
                info.currency,
                currency.upper(),
            )
        logger.info("stripe refund %s for %s: %s", info.refund_id, payment_intent_id, info.status)
        return info

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        # Reference: https://docs.stripe.com/api/refunds/retrieve
        refund = self._call(
            "retrieve refund", lambda: self._client.v1.refunds.retrieve(refund_id), refund_id=refund_id
        )
        return refund_info_from_refund(refund, refund)

    # --- Webhooks ------------------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, signature_header: str | None) -> GatewayEvent:
        if not self._webhook_secret:
            logger.error(
                "a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set; it cannot be verified"
            )
            raise GatewayRejected(
                "STRIPE_WEBHOOK_SECRET is not set, so Stripe webhooks cannot be verified.",
                gateway=self.name,
                code="webhook_secret_missing",
            )
        if not signature_header:
            raise InvalidSignature("The Stripe-Signature header is missing.", gateway=self.name)
        try:
            # Verifies over the raw bytes BEFORE parsing (request.body, never re-serialised data).
            stripe.Webhook.construct_event(
                body, signature_header, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE
            )
            payload = json.loads(body)
        except stripe.SignatureVerificationError as exc:
            logger.warning("stripe webhook rejected: %s", exc)
            raise InvalidSignature(f"Stripe signature check failed: {exc}", gateway=self.name) from exc
        except ValueError as exc:  # signed, but not UTF-8 JSON
            raise InvalidSignature("The webhook body is not a JSON event.", gateway=self.name) from exc
        if not isinstance(payload, dict):
            raise InvalidSignature("The webhook body is not a JSON event.", gateway=self.name)
        event = event_from_payload(payload, gateway=self.name)
        if event.livemode != self._live_mode:
            logger.warning(
                "stripe event %s has livemode=%s but STRIPE_LIVE_MODE=%s",
                event.event_id,
                event.livemode,
                self._live_mode,
            )
        if event.api_version and event.api_version != STRIPE_API_VERSION:
            logger.warning(
                "stripe event %s uses API version %s; we speak %s (set the webhook endpoint's version)",
                event.event_id,
                event.api_version,
                STRIPE_API_VERSION,
            )
        return event

    # --- Errors --------------------------------------------------------------------------------------

    def _call(
        self,
        action: str,
        call: Callable[[], stripe.StripeObject],
        *,
        not_found: type[GatewayError] = GatewayRejected,
        expected_refusal: bool = False,
        **context: str,
    ) -> dict[str, Any]:
        """Run one SDK call; the answer as a plain dict (16.x StripeObjects are not dicts), errors mapped."""
        try:
            return call().to_dict()
        except stripe.StripeError as exc:
            error = _map_error(exc, self.name, not_found)
            # A refusal is our bug or our configuration; outages and unknown ids are expected now and then.
            log = (
                logger.error
                if isinstance(error, GatewayRejected) and not expected_refusal
                else logger.warning
            )
            log("stripe %s failed (%s): %s %s", action, type(exc).__name__, error.message, _context(context))
            raise error from exc


def _map_error(exc: stripe.StripeError, gateway: str, not_found: type[GatewayError]) -> GatewayError:
    status = exc.http_status
    code = getattr(exc, "code", None)
    message = str(exc) or type(exc).__name__  # "Request req_...: <Stripe message>"; never holds the key
    kwargs = {"gateway": gateway, "status_code": status, "code": code}
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return GatewayUnavailable(message, **kwargs)
    if isinstance(exc, stripe.IdempotencyError):
        return GatewayRejected(message, **kwargs)
    if isinstance(exc, stripe.InvalidRequestError) and (code == "resource_missing" or status == 404):
        # A missing session is "not found"; a missing payment_intent in a refund body is a bad request.
        return (
            not_found(message, **kwargs)
            if getattr(exc, "param", None) is None
            else GatewayRejected(message, **kwargs)
        )
    if isinstance(exc, stripe.APIError) and (status is None or status >= 500 or status == 409):
        # 5xx, an unreadable answer, or 409 (a concurrent request with the same idempotency key).
        return GatewayUnavailable(message, **kwargs)
    if status is not None and status >= 500:
        return GatewayUnavailable(message, **kwargs)
    return GatewayRejected(message, **kwargs)


def _context(context: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in context.items())


def _check_live_mode(key: str, live_mode: bool) -> None:
    """STRIPE_LIVE_MODE guards against mixing test and live objects: the key must match it."""
    if key.startswith(_LIVE_PREFIXES) and not live_mode:
        raise ImproperlyConfigured("STRIPE_SECRET_KEY is a live key but STRIPE_LIVE_MODE is false.")
    if key.startswith(_TEST_PREFIXES) and live_mode:
        raise ImproperlyConfigured("STRIPE_LIVE_MODE is true but STRIPE_SECRET_KEY is a test key.")
