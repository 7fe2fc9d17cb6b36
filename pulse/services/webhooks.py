"""Payment webhooks: verify, store, deduplicate, dispatch (docs/renewals.md, "Webhooks").

The signature is checked on the raw body before anything is parsed or stored. Each event is stored
once (unique event id); a duplicate delivery of a handled event is acknowledged without work. An
event for an object that is not ours, or of a type we do not handle, is acknowledged and logged.
An unexpected error is stored on the event and re-raised so the view answers 500 and the gateway
retries later.

A paid checkout moves the order to PAID and hands the top-up to a Celery worker (after commit), so
the answer never waits for the provider. If the broker cannot take the task, the order stays PAID:
the reconciler or the customer's confirm call places the top-up.
"""

from __future__ import annotations

import logging
import traceback

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pulse.models import OrderStatus, PaymentEvent, RenewalOrder
from pulse.payments import GatewayEvent, get_gateway
from pulse.services.background import enqueue_fulfilment
from pulse.services.fulfilment import renewal_payment_sync
from pulse.services.refunds import apply_refund

logger = logging.getLogger(__name__)

Result = PaymentEvent.Result
SESSION_EVENTS = frozenset(
    {
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
    }
)
REFUND_EVENTS = frozenset({"refund.created", "refund.updated", "refund.failed", "charge.refund.updated"})


def payment_webhook_receive(*, body: bytes, signature: str | None) -> str:
    """Handle one delivery; returns the event's result. Raises InvalidSignature before storing anything."""
    event = get_gateway().parse_webhook(body, signature)
    stored, first_delivery = _store(event)
    if not first_delivery:
        # Count every delivery, including the retry of an event whose processing failed.
        PaymentEvent.objects.filter(pk=stored.pk).update(deliveries=F("deliveries") + 1)
        if stored.result in (Result.PROCESSED, Result.IGNORED):
            logger.info("webhook %s %s already handled", event.type, event.event_id)
            return "duplicate"
    try:
        result, order = _dispatch(event)
    except Exception as exc:
        PaymentEvent.objects.filter(pk=stored.pk).update(
            result=Result.FAILED, error="".join(traceback.format_exception(exc))[-5000:]
        )
        raise
    PaymentEvent.objects.filter(pk=stored.pk).update(
        result=result, order=order, processed_at=timezone.now(), error=""
    )
    return result


def _store(event: GatewayEvent) -> tuple[PaymentEvent, bool]:
    defaults = {
        "gateway": get_gateway().name,
        "type": event.type[:128],
        "livemode": event.livemode,
        "api_version": (event.api_version or "")[:64],
        "payload": event.payload,
    }
    try:
        with transaction.atomic():
            return PaymentEvent.objects.get_or_create(event_id=event.event_id, defaults=defaults)
    except IntegrityError:  # a concurrent delivery of the same event stored it first
        return PaymentEvent.objects.get(event_id=event.event_id), False


def _find_order(event: GatewayEvent) -> RenewalOrder | None:
    lookups = [
        ("checkout_session_id", event.session_id),
        ("refund_id", event.refund_id),
        ("order_id", event.order_id),
        ("payment_intent_id", event.payment_intent_id),
    ]
    for field, value in lookups:
        if value:
            order = RenewalOrder.objects.filter(**{field: value}).first()
            if order is not None:
                return order
    return None


def _dispatch(event: GatewayEvent) -> tuple[str, RenewalOrder | None]:
    if event.type not in SESSION_EVENTS | REFUND_EVENTS:
        logger.info("webhook %s ignored: type not handled", event.type)
        return Result.IGNORED, None
    order = _find_order(event)
    if order is None:
        logger.info("webhook %s %s ignored: not one of our orders", event.type, event.event_id)
        return Result.IGNORED, None
    if event.type in SESSION_EVENTS:
        if order.checkout_session_id != event.session_id:
            logger.warning("webhook %s for order %s names another session", event.type, order.order_id)
            return Result.IGNORED, order
        # Answer at once: the top-up (up to PROVIDER_TIMEOUT) runs on a worker, never in this request.
        synced = renewal_payment_sync(
            session_id=order.checkout_session_id, by="webhook", event_type=event.type, fulfil_now=False
        )
        if synced.order.status == OrderStatus.PAID:
            enqueue_fulfilment(synced.order.pk)
        return Result.PROCESSED, order
    return _refund_event(event, order)


def _refund_event(event: GatewayEvent, order: RenewalOrder) -> tuple[str, RenewalOrder]:
    refund_id = event.refund_id or order.refund_id
    if not refund_id or (order.refund_id and refund_id != order.refund_id):
        logger.info("webhook %s for order %s is about a refund we did not make", event.type, order.order_id)
        return Result.IGNORED, order
    # Events arrive in any order: ask the gateway for the refund's current state.
    apply_refund(order, get_gateway(order.gateway).retrieve_refund(refund_id), by="webhook")
    return Result.PROCESSED, order
