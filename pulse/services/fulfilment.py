"""Paid checkout → exactly one provider top-up (docs/renewals.md, "Exactly once").

`renewal_payment_sync` is the one function behind both the confirm endpoint and the webhook: it asks
the gateway (never the caller) what happened, moves PENDING → PAID with a compare-and-set, then claims
FULFILLING with a lease and places the top-up outside any database transaction.

Outcomes of a top-up:
- success → COMPLETED with the provider's reference;
- a definite refusal (ProviderRejected) → PROVIDER_FAILED → refund (or MANUAL_REVIEW); a refusal for
  lack of funds (ProviderInsufficientFunds) first pauses the provider's sales (`wallets`), so no
  further customer pays for what cannot be fulfilled;
- anything else (timeout, 5xx, unreadable answer, an unexpected exception) is an UNKNOWN outcome:
  the order stays FULFILLING and the reconciler asks the provider before ever ordering again (and
  hands it to staff when the provider cannot tell, docs/renewals.md §5).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from providers.base import TopUpRequest, TopUpState
from providers.errors import ProviderError, ProviderInsufficientFunds, ProviderRejected
from providers.iccid import mask_iccid
from pulse.exceptions import NotFound, PaymentGatewayUnavailable
from pulse.models import OrderStatus, PaymentTransaction, RenewalOrder
from pulse.payments import CheckoutNotFound, CheckoutState, GatewayUnavailable, get_gateway
from pulse.payments.minor_units import to_minor
from pulse.services import order_state, wallets
from pulse.services.ledger import ledger_record
from pulse.services.providers import provider_client
from pulse.services.refunds import after_provider_failure
from pulse.services.status import forget_status

logger = logging.getLogger(__name__)
S = OrderStatus

UNPAID_STATES = frozenset({S.PENDING, S.EXPIRED, S.CANCELLED, S.FAILED})


class CheckoutSessionNotFound(NotFound):
    code = "session_not_found"
    default_message = "No renewal order has this checkout session."


@dataclass(frozen=True)
class SyncResult:
    order: RenewalOrder
    checkout: CheckoutState | None

    @property
    def processing(self) -> bool:
        """The customer finished checkout with a delayed payment method that has not settled."""
        return (
            self.order.status == S.PENDING
            and self.checkout is not None
            and self.checkout.status == "complete"
            and self.checkout.payment_status == "unpaid"
        )


def renewal_payment_sync(
    *, session_id: str, by: str, event_type: str = "", fulfil_now: bool = True
) -> SyncResult:
    """Bring the order in line with the gateway's view of its checkout session; fulfil when paid.

    Only what the gateway reports now decides (the session's status and payment status, and its
    PaymentIntent's status), never who asks or what an event is called: a correctly signed
    `async_payment_failed` for a session that is still open changes nothing. `event_type` is only
    logged (deprecated; kept so existing callers keep working). `fulfil_now=False` leaves a PAID
    order for the caller to hand to a worker (the webhook, confirm-payment).
    """
    order = RenewalOrder.objects.filter(checkout_session_id=session_id).first()
    if order is None:
        raise CheckoutSessionNotFound(details=f"Unknown checkout session {session_id}.")
    try:
        checkout = get_gateway(order.gateway).retrieve_checkout(session_id)
    except CheckoutNotFound as exc:
        raise CheckoutSessionNotFound(details="The payment service does not know this session.") from exc
    except GatewayUnavailable as exc:
        raise PaymentGatewayUnavailable(
            details="Could not verify the payment; please retry shortly."
        ) from exc
    logger.debug(
        "order %s sync (%s%s): session %s, payment %s, intent %s",
        order.order_id,
        by,
        f", event {event_type}" if event_type else "",
        checkout.status,
        checkout.payment_status,
        checkout.payment_intent_status,
    )
    if checkout.payment_status == "paid":
        _mark_paid(order, checkout, by)
    elif checkout.status == "expired":
        _close_unpaid(order, S.EXPIRED, by, "checkout expired")
    elif checkout.payment_failed:
        _close_unpaid(
            order, S.FAILED, by, f"payment failed (payment intent {checkout.payment_intent_status})"
        )
    order.refresh_from_db()
    if order.status == S.PAID and fulfil_now:
        fulfil(order, by=by)
        order.refresh_from_db()
    return SyncResult(order, checkout)


def _mismatch(order: RenewalOrder, checkout: CheckoutState) -> str:
    problems = []
    reference = checkout.client_reference_id or checkout.metadata.get("order_id")
    if reference != order.order_id:
        problems.append(f"reference {reference!r}")
    if checkout.currency.upper() != order.currency.upper():
        problems.append(f"currency {checkout.currency}")
    if checkout.amount_minor != to_minor(order.amount, order.currency):
        problems.append(f"amount {checkout.amount_minor}")
    return ", ".join(problems)


def _mark_paid(order: RenewalOrder, checkout: CheckoutState, by: str) -> None:
    mismatch = _mismatch(order, checkout)
    now = timezone.now()
    # next_attempt_at may hold a closed order's re-check time; it must not delay a fulfilment retry.
    fields = {"paid_at": now, "payment_intent_id": checkout.payment_intent_id or "", "next_attempt_at": None}
    if mismatch:
        # Money was taken but not for what we sold: never fulfil automatically.
        logger.error("order %s paid checkout does not match: %s", order.order_id, mismatch)
        # One transaction: no concurrent sync may see the intermediate PAID and claim the top-up.
        with transaction.atomic():
            moved = order_state.transition(
                order, UNPAID_STATES, S.PAID, by=by, action="paid (mismatch)", note=mismatch, **fields
            )
            if moved:
                _record_charge(order, checkout)
                order_state.transition(
                    order, S.PAID, S.FULFILLING, by=by, action="hold", note="checkout mismatch"
                )
                order_state.transition(
                    order,
                    S.FULFILLING,
                    S.MANUAL_REVIEW,
                    by=by,
                    action="manual review",
                    note=f"checkout mismatch: {mismatch}",
                )
        return
    if order_state.transition(order, UNPAID_STATES, S.PAID, by=by, action="paid", **fields):
        _record_charge(order, checkout)


def _record_charge(order: RenewalOrder, checkout: CheckoutState) -> None:
    """Turn the pending charge row into the one PAID row (unique per order, kind and reference)."""
    ledger_record(
        order=order,
        kind=PaymentTransaction.Kind.CHARGE,
        reference=checkout.session_id,
        status=PaymentTransaction.Status.PAID,
        raw=_safe_raw(checkout.raw),
    )


def _safe_raw(raw: dict) -> dict:
    """The gateway object minus customer details we do not need to keep."""
    return {
        key: value for key, value in (raw or {}).items() if key not in {"customer_details", "customer_email"}
    }


def _close_unpaid(order: RenewalOrder, target: str, by: str, note: str) -> None:
    if order_state.transition(order, S.PENDING, target, by=by, note=note):
        PaymentTransaction.objects.filter(
            order=order, kind=PaymentTransaction.Kind.CHARGE, status=PaymentTransaction.Status.PENDING
        ).update(status=PaymentTransaction.Status.FAILED)


def fulfil(order: RenewalOrder, *, by: str) -> bool:
    """Claim a PAID order and place its top-up. False when another worker holds it."""
    lease = timezone.now() + timedelta(seconds=settings.FULFILMENT_LEASE_SECONDS)
    claimed = order_state.transition(
        order, S.PAID, S.FULFILLING, by=by, action="claim", lease_until=lease, increment_attempts=True
    )
    if claimed:
        place_top_up(order.pk, by=by)
    return claimed


def place_top_up(order_pk: int, *, by: str) -> None:
    """Call the provider for an order this worker has claimed (status FULFILLING, lease held).

    Runs outside any transaction: a slow provider must not hold database locks.
    """
    order = RenewalOrder.objects.get(pk=order_pk)
    client = provider_client(order.provider)
    if client is None:
        order_state.transition(
            order,
            S.FULFILLING,
            S.MANUAL_REVIEW,
            by=by,
            note=f"{order.provider} is not configured",
            lease_until=None,
        )
        return
    try:
        result = client.top_up(top_up_request(order))
    except ProviderInsufficientFunds as exc:
        # Pause first (new creates are refused from now on), then refund this order as before.
        try:
            wallets.note_insufficient_funds(order, exc)
        except Exception:  # the guard must never keep a paid order from its refund
            logger.exception("order %s: could not pause %s sales", order.order_id, order.provider)
        _definite_failure(order, by, exc)
        return
    except ProviderRejected as exc:
        _definite_failure(order, by, exc)
        return
    except ProviderError as exc:
        _unknown_outcome(order, by, f"outcome unknown ({exc.code}): {exc.message}")
        return
    except Exception as exc:
        # Not the provider's documented refusal, so not proof that nothing was ordered: refunding or
        # ordering again could be wrong. Unknown; the reconciler asks the provider first.
        logger.exception("order %s: unexpected error while placing the top-up", order.order_id)
        _unknown_outcome(order, by, f"outcome unknown ({type(exc).__name__}): {exc}")
        return
    complete(order, by=by, reference=result.reference, pending=result.state is TopUpState.PENDING)


def top_up_request(order: RenewalOrder) -> TopUpRequest:
    return TopUpRequest(
        iccid=order.iccid,
        esim_reference=order.esim_reference,
        bundle_code=order.bundle_code,
        order_reference=order.order_id,
        package_id=order.package_id or None,
        duration_days=order.duration_days,
        amount=order.amount,
        currency=order.currency,
    )


def complete(
    order: RenewalOrder, *, by: str, reference: str, pending: bool = False, actor=None, note: str = ""
) -> bool:
    """FULFILLING (or MANUAL_REVIEW, by staff) → COMPLETED with the provider's reference."""
    now = timezone.now()
    moved = order_state.transition(
        order,
        [S.FULFILLING, S.MANUAL_REVIEW],
        S.COMPLETED,
        by=by,
        actor=actor,
        note=note or ("provider accepted; applying shortly" if pending else ""),
        provider_reference=reference,
        completed_at=now,
        lease_until=None,
        last_error="",
    )
    if moved:
        forget_status(order.iccid)
        logger.info("order %s completed at %s (%s)", order.order_id, order.provider, mask_iccid(order.iccid))
    return moved


def _definite_failure(order: RenewalOrder, by: str, exc: ProviderError) -> None:
    message = f"{exc.code}: {exc.message}"[:1000]
    logger.warning("order %s: %s refused the top-up: %s", order.order_id, order.provider, message)
    if order_state.transition(
        order, S.FULFILLING, S.PROVIDER_FAILED, by=by, note=message, last_error=message, lease_until=None
    ):
        after_provider_failure(order.pk, by=by)


def _unknown_outcome(order: RenewalOrder, by: str, message: str) -> None:
    """Keep FULFILLING; the lease runs out and the reconciler asks the provider what happened."""
    message = message[:1000]
    logger.warning("order %s: %s", order.order_id, message)
    RenewalOrder.objects.filter(pk=order.pk, status=S.FULFILLING).update(last_error=message)
    order_state.record(order, by=by, action="top-up outcome unknown", note=message)
