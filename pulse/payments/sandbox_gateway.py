"""The sandbox payment gateway: Stripe Checkout's behaviour with no keys and no network.

Sessions live in `SandboxCheckout`, refunds in `SandboxRefund`. A person (or a test) finishes a session
on our own sandbox checkout page, which calls `sandbox_complete(...)`: that updates the session and
returns a Stripe-shaped event signed with Stripe's `t=,v1=` scheme, to be fed to the SAME webhook
handler that Stripe's events reach. So development walks the real code path end to end.

It takes no money, so it refuses to be built when DEBUG is off unless SANDBOX_PAYMENTS_ALLOWED is set
(CI and demos), and `esim_status_checker.settings.base` refuses that combination at start-up too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone

from pulse.models import SandboxCheckout, SandboxRefund
from pulse.payments.base import (
    STRIPE_API_VERSION,
    CheckoutInfo,
    CheckoutNotFound,
    CheckoutRequest,
    CheckoutState,
    GatewayEvent,
    GatewayRejected,
    InvalidSignature,
    RefundInfo,
    checkout_state_from_session,
    clamp_checkout_expiry,
    event_from_payload,
    refund_info_from_refund,
)
from pulse.payments.minor_units import to_minor
from pulse.payments.signing import DEFAULT_TOLERANCE, sign, verify

logger = logging.getLogger(__name__)

CHECKOUT_PATH = "/api/esim/sandbox/checkout/{session_id}/"
OUTCOME_EVENTS = {
    "paid": "checkout.session.completed",
    "failed": "checkout.session.async_payment_failed",
    "expired": "checkout.session.expired",
}


def sandbox_webhook_secret() -> str:
    """STRIPE_WEBHOOK_SECRET when set, else a secret derived from SECRET_KEY (nothing to configure)."""
    if settings.STRIPE_WEBHOOK_SECRET:
        return settings.STRIPE_WEBHOOK_SECRET
    return "whsec_sandbox_" + _derive("sandbox-webhook-secret", 32)


def _derive(purpose: str, length: int) -> str:
    mac = hmac.new(settings.SECRET_KEY.encode(), f"pulse.payments.{purpose}".encode(), hashlib.sha256)
    return mac.hexdigest()[:length]


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


class SandboxGateway:
    name = "sandbox"

    def __init__(self) -> None:
        if not settings.DEBUG and not settings.SANDBOX_PAYMENTS_ALLOWED:
            raise ImproperlyConfigured(
                "The sandbox payment gateway takes no money and is refused when DEBUG=False. Use "
                "PAYMENT_GATEWAY=stripe with Stripe keys, or set SANDBOX_PAYMENTS_ALLOWED=true (CI, demos)."
            )
        self._secret = sandbox_webhook_secret()

    @property
    def webhook_secret(self) -> str:
        return self._secret

    # --- Checkout ------------------------------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> CheckoutInfo:
        if not settings.PUBLIC_BASE_URL:
            # Never a relative or request-derived URL: the customer's browser must reach the page.
            raise GatewayRejected(
                "PUBLIC_BASE_URL is not set, so the sandbox checkout page has no address to hand out.",
                gateway=self.name,
                code="configuration",
            )
        try:
            amount_minor = to_minor(request.amount, request.currency)
        except (TypeError, ValueError) as exc:
            raise GatewayRejected(str(exc), gateway=self.name, code="unsupported_amount") from exc
        if amount_minor <= 0:
            raise GatewayRejected(
                "A checkout amount must be positive.", gateway=self.name, code="unsupported_amount"
            )
        # The id is derived from the idempotency key, so a repeated request finds the first session
        # (Stripe's replay) without an extra column.
        session_id = (
            "sbx_cs_"
            + hmac.new(
                settings.SECRET_KEY.encode(), f"checkout:{request.idempotency_key}".encode(), hashlib.sha256
            ).hexdigest()[:32]
        )
        row = SandboxCheckout.objects.filter(session_id=session_id).first() or self._insert(
            session_id, request, amount_minor
        )
        if (row.client_reference_id, row.amount_minor, row.currency) != (
            request.order_id,
            amount_minor,
            request.currency.upper(),
        ):
            raise GatewayRejected(
                f"Idempotency key {request.idempotency_key!r} was used for a different checkout.",
                gateway=self.name,
                code="idempotency_error",
            )
        url = checkout_page_url(session_id)
        logger.info("sandbox checkout %s opened for order %s", session_id, request.order_id)
        return CheckoutInfo(
            session_id=session_id, url=url, expires_at=row.expires_at, raw=_session_object(row)
        )

    def _insert(self, session_id: str, request: CheckoutRequest, amount_minor: int) -> SandboxCheckout:
        description = request.product_name + (f": {request.description}" if request.description else "")
        try:
            with transaction.atomic():  # a savepoint: a lost race must not poison the caller's transaction
                return SandboxCheckout.objects.create(
                    session_id=session_id,
                    client_reference_id=request.order_id,
                    amount_minor=amount_minor,
                    currency=request.currency.upper(),
                    description=description[:255],
                    customer_email=request.customer_email or "",
                    metadata={**request.metadata, "order_id": request.order_id},
                    success_url=request.success_url,
                    cancel_url=request.cancel_url,
                    expires_at=clamp_checkout_expiry(request.expires_at, timezone.now()),
                )
        except IntegrityError:  # the same key, concurrently: the other request's row is the answer
            return SandboxCheckout.objects.get(session_id=session_id)

    def retrieve_checkout(self, session_id: str) -> CheckoutState:
        return _checkout_state(self._get(session_id))

    def expire_checkout(self, session_id: str) -> None:
        self._get(session_id)
        SandboxCheckout.objects.filter(session_id=session_id, status="open").update(status="expired")

    def sandbox_complete(self, session_id: str, outcome: str) -> tuple[CheckoutState, bytes, str]:
        """Play the customer's part: ``paid``, ``failed`` (a declined payment) or ``expired``.

        Returns the new state and a signed Stripe-shaped event (body, Stripe-Signature header) for the
        webhook handler. Only an open, unexpired session can be completed (GatewayRejected otherwise),
        and the update is a compare-and-set, so a double click produces one event.
        """
        if outcome not in OUTCOME_EVENTS:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOME_EVENTS)}, not {outcome!r}")
        still_open = SandboxCheckout.objects.filter(session_id=session_id, status="open")
        if outcome == "expired":
            changed = still_open.update(status="expired")
        else:
            changed = still_open.filter(expires_at__gt=timezone.now()).update(
                status="complete",
                payment_status="paid" if outcome == "paid" else "unpaid",
                payment_intent_id=_new_id("sbx_pi_"),
            )
        row = self._get(session_id)
        if not changed:
            raise GatewayRejected(
                f"Checkout Session {session_id} is {row.status}, not open.",
                gateway=self.name,
                code="session_not_open",
            )
        session = _session_object(row)
        body = json.dumps(_event(OUTCOME_EVENTS[outcome], session), indent=2).encode()
        logger.info("sandbox checkout %s -> %s", session_id, outcome)
        return _checkout_state(row), body, sign(body, self._secret)

    def sandbox_return_url(self, session_id: str) -> str:
        """Where the sandbox page sends the browser next, as Stripe would: success_url (with the session id
        substituted) once the session is complete, else cancel_url."""
        row = self._get(session_id)
        if row.status == "complete":
            return row.success_url.replace("{CHECKOUT_SESSION_ID}", row.session_id)
        return row.cancel_url

    def _get(self, session_id: str) -> SandboxCheckout:
        row = SandboxCheckout.objects.filter(session_id=session_id).first()
        if row is None:
            raise CheckoutNotFound(
                f"No such checkout.session: {session_id!r}", gateway=self.name, code="resource_missing"
            )
        if row.status == "open" and row.expires_at <= timezone.now():
            # Stripe expires sessions on its own at expires_at; here that happens when someone looks.
            SandboxCheckout.objects.filter(pk=row.pk, status="open").update(status="expired")
            row.refresh_from_db()
        return row

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
        existing = SandboxRefund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            existing = self._create_refund(payment_intent_id, amount_minor, currency.upper(), idempotency_key)
        if (existing.payment_intent_id, existing.amount_minor, existing.currency) != (
            payment_intent_id,
            amount_minor,
            currency.upper(),
        ):
            raise GatewayRejected(
                f"Idempotency key {idempotency_key!r} was used for a different refund.",
                gateway=self.name,
                code="idempotency_error",
            )
        return self._refund_info(existing)

    def _create_refund(
        self, payment_intent_id: str, amount_minor: int, currency: str, key: str
    ) -> SandboxRefund:
        if amount_minor <= 0:
            raise GatewayRejected(
                "A refund amount must be positive.", gateway=self.name, code="invalid_amount"
            )
        try:
            with transaction.atomic():
                # Lock the paid session (PostgreSQL) so two refunds cannot both pass the balance check.
                session = (
                    SandboxCheckout.objects.select_for_update()
                    .filter(payment_intent_id=payment_intent_id, payment_status="paid")
                    .first()
                )
                self._check_refundable(session, payment_intent_id, amount_minor, currency)
                return SandboxRefund.objects.create(
                    refund_id=_new_id("sbx_re_"),
                    idempotency_key=key,
                    payment_intent_id=payment_intent_id,
                    amount_minor=amount_minor,
                    currency=currency,
                    status="succeeded",
                )
        except IntegrityError:  # the same key, concurrently
            return SandboxRefund.objects.get(idempotency_key=key)

    def _check_refundable(
        self, session: SandboxCheckout | None, payment_intent_id: str, amount_minor: int, currency: str
    ) -> None:
        if session is None:
            raise GatewayRejected(
                f"No such payment_intent with a successful payment: {payment_intent_id!r}",
                gateway=self.name,
                code="resource_missing",
            )
        if session.currency != currency:
            raise GatewayRejected(
                f"The payment is in {session.currency}, not {currency}.",
                gateway=self.name,
                code="currency_mismatch",
            )
        refunded = (
            SandboxRefund.objects.filter(payment_intent_id=payment_intent_id)
            .exclude(status__in=("failed", "canceled"))
            .aggregate(total=Sum("amount_minor"))["total"]
            or 0
        )
        if amount_minor > session.amount_minor - refunded:
            raise GatewayRejected(
                f"Refund amount ({amount_minor}) is greater than the unrefunded amount "
                f"({session.amount_minor - refunded}).",
                gateway=self.name,
                code="amount_too_large",
            )

    def retrieve_refund(self, refund_id: str) -> RefundInfo:
        refund = SandboxRefund.objects.filter(refund_id=refund_id).first()
        if refund is None:
            raise GatewayRejected(
                f"No such refund: {refund_id!r}", gateway=self.name, code="resource_missing"
            )
        return self._refund_info(refund)

    def _refund_info(self, refund: SandboxRefund) -> RefundInfo:
        # SandboxRefund has no metadata column; the paid session's metadata (order_id, ...) is what our
        # refunds carry anyway.
        session = SandboxCheckout.objects.filter(payment_intent_id=refund.payment_intent_id).first()
        obj = {
            "id": refund.refund_id,
            "object": "refund",
            "amount": refund.amount_minor,
            "charge": None,
            "created": int(refund.created_at.timestamp()),
            "currency": refund.currency.lower(),
            "metadata": dict(session.metadata) if session else {},
            "payment_intent": refund.payment_intent_id,
            "reason": None,
            "status": refund.status,
        }
        return refund_info_from_refund(obj, obj)

    # --- Webhooks ------------------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, signature_header: str | None) -> GatewayEvent:
        try:
            verify(body, signature_header, self._secret, DEFAULT_TOLERANCE)
        except InvalidSignature as exc:
            logger.warning("sandbox webhook rejected: %s", exc.message)
            raise InvalidSignature(exc.message, gateway=self.name) from exc
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidSignature("The webhook body is not a JSON event.", gateway=self.name) from exc
        if not isinstance(payload, dict):
            raise InvalidSignature("The webhook body is not a JSON event.", gateway=self.name)
        return event_from_payload(payload, gateway=self.name)


def checkout_page_url(session_id: str) -> str:
    """The sandbox checkout page's absolute URL: from PUBLIC_BASE_URL, never from a request's Host."""
    return settings.PUBLIC_BASE_URL + CHECKOUT_PATH.format(session_id=session_id)


def _session_object(row: SandboxCheckout) -> dict[str, Any]:
    """The session as Stripe would render it (API version STRIPE_API_VERSION)."""
    return {
        "id": row.session_id,
        "object": "checkout.session",
        "amount_subtotal": row.amount_minor,
        "amount_total": row.amount_minor,
        "cancel_url": row.cancel_url,
        "client_reference_id": row.client_reference_id,
        "created": int(row.created_at.timestamp()),
        "currency": row.currency.lower(),
        "customer_email": row.customer_email or None,
        "expires_at": int(row.expires_at.timestamp()),
        "livemode": False,
        "metadata": dict(row.metadata),
        "mode": "payment",
        "payment_intent": row.payment_intent_id or None,
        "payment_method_types": ["card"],
        "payment_status": row.payment_status,
        "status": row.status,
        "success_url": row.success_url,
        "url": checkout_page_url(row.session_id) if row.status == "open" else None,
    }


def _checkout_state(row: SandboxCheckout) -> CheckoutState:
    """As Stripe answers a retrieve with `expand[]=payment_intent`: the intent's status comes along."""
    session = _session_object(row)
    return checkout_state_from_session({**session, "payment_intent": _payment_intent_object(row)}, session)


def _payment_intent_object(row: SandboxCheckout) -> dict[str, Any] | None:
    """The sandbox session's PaymentIntent, which exists once the customer submitted the page.

    Paid → succeeded; a declined payment (the page's "Fail") → requires_payment_method, as Stripe
    leaves a failed intent waiting for another payment method.
    """
    if not row.payment_intent_id:
        return None
    paid = row.payment_status == "paid"
    return {
        "id": row.payment_intent_id,
        "object": "payment_intent",
        "amount": row.amount_minor,
        "amount_received": row.amount_minor if paid else 0,
        "currency": row.currency.lower(),
        "metadata": dict(row.metadata),
        "status": "succeeded" if paid else "requires_payment_method",
    }


def _event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": _new_id("sbx_evt_"),
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": int(timezone.now().timestamp()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
