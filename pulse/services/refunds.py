"""Refunds after a definite provider failure (docs/renewals.md, "When the provider fails").

With RENEWAL_AUTO_REFUND on, PROVIDER_FAILED → REFUND_PENDING → a full refund with the stable
idempotency key `refund:<order id>` (so a retry by any worker can never refund twice) → REFUNDED.
A refund the gateway refuses or that fails later → MANUAL_REVIEW. With auto-refund off the order goes
straight to MANUAL_REVIEW for staff.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.utils import timezone

from pulse.models import OrderStatus, PaymentTransaction, RenewalOrder
from pulse.payments import GatewayError, GatewayUnavailable, RefundInfo, get_gateway
from pulse.payments.minor_units import to_minor
from pulse.services import order_state
from pulse.services.ledger import ledger_record

logger = logging.getLogger(__name__)
S = OrderStatus

REFUND_DONE = "succeeded"
REFUND_FAILED = frozenset({"failed", "canceled"})
_TXN_STATUS = {
    "succeeded": PaymentTransaction.Status.REFUNDED,
    "failed": PaymentTransaction.Status.FAILED,
    "canceled": PaymentTransaction.Status.FAILED,
}


def refund_key(order: RenewalOrder) -> str:
    """`refund:<order id>` — stable, so any retry by any worker can never refund twice.

    After a refund that definitely failed, a new attempt needs a new key (the gateway would
    replay the failed one): `refund:<order id>:2`, `:3`, …
    """
    failed = PaymentTransaction.objects.filter(
        order=order, kind=PaymentTransaction.Kind.REFUND, status=PaymentTransaction.Status.FAILED
    ).count()
    return f"refund:{order.order_id}" if not failed else f"refund:{order.order_id}:{failed + 1}"


def after_provider_failure(order_pk: int, *, by: str) -> None:
    order = RenewalOrder.objects.get(pk=order_pk)
    if not settings.RENEWAL_AUTO_REFUND:
        order_state.transition(
            order, S.PROVIDER_FAILED, S.MANUAL_REVIEW, by=by, note="auto-refund is off; staff decide"
        )
        return
    if order_state.transition(order, S.PROVIDER_FAILED, S.REFUND_PENDING, by=by, action="refund requested"):
        issue_refund(order.pk, by=by)


def issue_refund(order_pk: int, *, by: str) -> None:
    """Ask the gateway for the full refund of a REFUND_PENDING order (safe to repeat)."""
    order = RenewalOrder.objects.get(pk=order_pk)
    if order.status != S.REFUND_PENDING:
        return
    if not order.payment_intent_id:
        order_state.transition(order, S.REFUND_PENDING, S.MANUAL_REVIEW, by=by, note="no payment to refund")
        return
    try:
        info = get_gateway(order.gateway).refund(
            payment_intent_id=order.payment_intent_id,
            amount_minor=to_minor(order.amount, order.currency),
            currency=order.currency,
            idempotency_key=refund_key(order),
            metadata={"order_id": order.order_id},
        )
    except GatewayUnavailable as exc:
        # Stays REFUND_PENDING; the reconciler retries with the same key.
        RenewalOrder.objects.filter(pk=order.pk).update(last_error=f"refund not sent yet: {exc}"[:1000])
        logger.warning("order %s: refund could not be sent yet: %s", order.order_id, exc)
        return
    except GatewayError as exc:
        logger.error("order %s: refund refused: %s", order.order_id, exc)
        order_state.transition(
            order, S.REFUND_PENDING, S.MANUAL_REVIEW, by=by, note=f"refund refused: {exc}"[:1000]
        )
        return
    apply_refund(order, info, by=by)


def apply_refund(order: RenewalOrder, info: RefundInfo, *, by: str) -> None:
    """Record what the gateway says about our refund and move the order accordingly."""
    RenewalOrder.objects.filter(pk=order.pk).update(refund_id=info.refund_id)
    _record_refund_transaction(order, info)
    if info.status == REFUND_DONE:
        order_state.transition(
            order,
            S.REFUND_PENDING,
            S.REFUNDED,
            by=by,
            action="refunded",
            refunded_at=timezone.now(),
            last_error="",
        )
    elif info.status in REFUND_FAILED:
        note = f"refund {info.refund_id} {info.status}"
        order_state.transition(order, [S.REFUND_PENDING, S.REFUNDED], S.MANUAL_REVIEW, by=by, note=note)
    else:
        logger.info("order %s: refund %s is %s", order.order_id, info.refund_id, info.status)


def _record_refund_transaction(order: RenewalOrder, info: RefundInfo) -> None:
    ledger_record(
        order=order,
        kind=PaymentTransaction.Kind.REFUND,
        reference=info.refund_id,
        status=_TXN_STATUS.get(info.status, PaymentTransaction.Status.PENDING),
        raw=info.raw or {},
    )
