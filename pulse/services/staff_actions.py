"""What staff may do to a renewal order from the admin (docs/operations.md).

Each action goes through the state machine (`order_state.transition`, a compare-and-set), so a click
racing a webhook or the reconciler can never act twice, and each leaves an audit entry naming the
staff user and their note. A refused action raises a domain error whose message says why and what to
do instead; the admin shows it. Nothing here may run inside a database transaction: retries call the
provider and refunds call the payment gateway.

Decisions (contract §6 is silent on them):
- A COMPLETED order cannot be refunded here: the state table makes COMPLETED final (the customer has
  the data). A goodwill refund is made in the payment dashboard and explained with a note.
- Before retrying an order that was already attempted, the provider is asked whether an earlier
  attempt went through (where its API allows), so a retry never tops up twice.
- Retry is refused once money is back with the customer (or on its way).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import IntegrityError
from django.db.models import Count, Q
from django.utils import timezone

from providers.base import TopUpResult
from providers.errors import ProviderError, ProviderNotFound
from pulse.exceptions import InvalidInput, InvalidStateTransition, ServiceUnavailable
from pulse.models import OrderStatus, PaymentTransaction, RenewalOrder
from pulse.services import emails, order_state
from pulse.services.fulfilment import complete, place_top_up, top_up_request
from pulse.services.providers import provider_client
from pulse.services.refunds import issue_refund
from pulse.services.status import forget_status

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

logger = logging.getLogger(__name__)
S = OrderStatus

SOURCE = "admin"
RETRYABLE = (S.PROVIDER_FAILED, S.MANUAL_REVIEW)
REFUNDABLE = (S.PROVIDER_FAILED, S.MANUAL_REVIEW)
COMPLETABLE = (S.MANUAL_REVIEW,)
# Provider timestamps may be coarse or a little behind ours: look this far before the payment.
TOP_UP_LOOKBACK = timedelta(minutes=5)
# A refund the gateway has not settled after this long needs a human look.
REFUND_PENDING_ALERT_AFTER = timedelta(hours=1)

ATTENTION_LABELS = {
    "manual_review": "Manual review",
    "provider_failed": "Provider failed",
    "stuck_fulfilling": "Placing top-up, lease expired",
    "stale_pending": "Pending, checkout expired",
    "slow_refund": "Refund pending over 1 hour",
    "email_overdue": "Customer e-mail failing over 1 hour",
}


class ProviderCheckUnavailable(ServiceUnavailable):
    code = "provider_check_unavailable"
    default_message = "Could not ask the provider whether an earlier attempt went through."


class EmailNotSent(ServiceUnavailable):
    code = "email_not_sent"
    default_message = "The e-mail could not be sent."


# --- "needs attention" ---------------------------------------------------------------------------


def attention_filters(now: datetime | None = None) -> dict[str, Q]:
    """One Q per kind of order that is stuck or waiting for staff (the admin's "needs attention")."""
    now = now or timezone.now()
    return {
        "manual_review": Q(status=S.MANUAL_REVIEW),
        "provider_failed": Q(status=S.PROVIDER_FAILED),
        "stuck_fulfilling": Q(status=S.FULFILLING) & (Q(lease_until__lt=now) | Q(lease_until__isnull=True)),
        "stale_pending": Q(status=S.PENDING, checkout_expires_at__lt=now),
        # `transition` stamps updated_at, so it is when the order entered REFUND_PENDING.
        "slow_refund": Q(status=S.REFUND_PENDING, updated_at__lt=now - REFUND_PENDING_ALERT_AFTER),
        "email_overdue": emails.overdue_emails_q(now),
    }


def needs_attention_q(kind: str = "all", now: datetime | None = None) -> Q:
    filters = attention_filters(now)
    if kind != "all":
        return filters[kind]
    combined = Q()
    for condition in filters.values():
        combined |= condition
    return combined


def attention_counts(now: datetime | None = None) -> dict[str, int]:
    """Orders per attention kind plus "all", in one query.

    Only the orders of some kind are counted (each kind implies "all"): every branch of that condition
    has an index (status, e-mail failing since), so the count reads a few rows, not every order.
    """
    filters = attention_filters(now)
    aggregates = {kind: Count("pk", filter=condition) for kind, condition in filters.items()}
    aggregates["all"] = Count("pk")
    return RenewalOrder.objects.filter(needs_attention_q("all", now)).aggregate(**aggregates)


def available_actions(order: RenewalOrder) -> list[str]:
    """The actions that make sense for the order's status (the buttons on its admin page)."""
    actions = []
    if order.status in RETRYABLE:
        actions.append("retry")
    if order.status in (*REFUNDABLE, S.REFUND_PENDING):
        actions.append("refund")
    if order.status in COMPLETABLE:
        actions.append("mark_completed")
    if order.customer_email and emails.kind_for(order.status) is not None:
        actions.append("resend_email")
    actions.append("note")
    return actions


# --- actions -------------------------------------------------------------------------------------


def retry_fulfilment(order: RenewalOrder, *, user: AbstractBaseUser, note: str = "") -> RenewalOrder:
    """PROVIDER_FAILED or MANUAL_REVIEW → FULFILLING (fresh lease, attempts + 1) → place the top-up."""
    order = _fresh(order)
    _require(order, RETRYABLE, "retry fulfilment of")
    _refuse_if_money_returned(order, "retry fulfilment of")
    earlier = _earlier_top_up(order)
    lease = timezone.now() + timedelta(seconds=settings.FULFILMENT_LEASE_SECONDS)
    claimed = order_state.transition(
        order,
        RETRYABLE,
        S.FULFILLING,
        by=SOURCE,
        action="staff retry fulfilment",
        note=note,
        actor=user,
        increment_attempts=True,
        lease_until=lease,
        next_attempt_at=None,
        last_error="",
    )
    if not claimed:
        raise _moved_on(order, "retry fulfilment of")
    if earlier is not None:
        found = f"the provider already shows this top-up ({earlier.reference}); not ordered again"
        complete(order, by=SOURCE, reference=earlier.reference, actor=user, note=found)
    else:
        place_top_up(order.pk, by=SOURCE)
    return _fresh(order)


def refund(order: RenewalOrder, *, user: AbstractBaseUser, note: str = "") -> RenewalOrder:
    """PROVIDER_FAILED or MANUAL_REVIEW → REFUND_PENDING → a full refund; REFUND_PENDING → ask again.

    The refund's idempotency key is `refund:<order id>`, so repeating this never refunds twice.
    """
    order = _fresh(order)
    if order.status == S.REFUND_PENDING:
        order_state.record(order, by=SOURCE, action="staff retry refund", note=note, actor=user)
        issue_refund(order.pk, by=SOURCE)
        return _fresh(order)
    if order.status == S.COMPLETED:
        raise InvalidStateTransition(
            f"Order {order.order_id} is completed: the customer received the top-up, so it cannot be "
            "refunded from here.",
            details="For a goodwill refund, refund the payment in the payment dashboard and add a note "
            "to this order saying why.",
        )
    _require(order, REFUNDABLE, "refund")
    _refuse_if_money_returned(order, "refund")
    moved = order_state.transition(
        order,
        REFUNDABLE,
        S.REFUND_PENDING,
        by=SOURCE,
        action="staff refund",
        note=note,
        actor=user,
        lease_until=None,
        next_attempt_at=None,
    )
    if not moved:
        raise _moved_on(order, "refund")
    issue_refund(order.pk, by=SOURCE)
    return _fresh(order)


def mark_completed(
    order: RenewalOrder, *, user: AbstractBaseUser, note: str, provider_reference: str
) -> RenewalOrder:
    """MANUAL_REVIEW → COMPLETED, for a top-up staff confirmed (or placed) at the provider themselves."""
    note, reference = (note or "").strip(), (provider_reference or "").strip()
    _require_fields(note=note, provider_reference=reference)
    order = _fresh(order)
    _require(order, COMPLETABLE, "mark completed")
    _refuse_duplicate_reference(order, reference)
    try:
        # Not `fulfilment.complete`: that also accepts FULFILLING, and staff must never complete an
        # order a worker is placing right now.
        moved = order_state.transition(
            order,
            S.MANUAL_REVIEW,
            S.COMPLETED,
            by=SOURCE,
            action="staff marked completed",
            note=note,
            actor=user,
            provider_reference=reference,
            completed_at=timezone.now(),
            lease_until=None,
            next_attempt_at=None,
            last_error="",
        )
    except IntegrityError as exc:  # the same reference saved on another order a moment ago
        raise _duplicate_reference(reference) from exc
    if not moved:
        raise _moved_on(order, "mark completed")
    forget_status(order.iccid)
    return _fresh(order)


def resend_email(order: RenewalOrder, *, user: AbstractBaseUser, note: str = "") -> RenewalOrder:
    """Send the customer the e-mail for the order's current status again."""
    order = _fresh(order)
    kind = emails.kind_for(order.status)
    if kind is None:
        raise InvalidStateTransition(
            f"Order {order.order_id} is {order.get_status_display().lower()}: customers get an e-mail "
            "only for completed, refunded and manual-review orders."
        )
    if not order.customer_email:
        raise InvalidInput(f"Order {order.order_id} has no customer e-mail address.")
    if not emails.send_status_email(order.pk, order.status, resend=True):
        raise EmailNotSent(
            f"The {kind.label} for order {order.order_id} could not be sent.",
            details="The mail server did not accept it (see the logs); try again later.",
        )
    order_state.record(order, by=SOURCE, action=f"resent {kind.label}", note=note, actor=user)
    return _fresh(order)


def add_note(order: RenewalOrder, *, user: AbstractBaseUser, note: str) -> RenewalOrder:
    """A note in the audit trail without changing anything (what staff checked, told the customer…)."""
    note = (note or "").strip()
    _require_fields(note=note)
    order = _fresh(order)
    order_state.record(order, by=SOURCE, action="staff note", note=note, actor=user)
    return order


# --- helpers -------------------------------------------------------------------------------------


def _fresh(order: RenewalOrder) -> RenewalOrder:
    return RenewalOrder.objects.get(pk=order.pk)


def _require(order: RenewalOrder, allowed: tuple[str, ...], verb: str) -> None:
    if order.status in allowed:
        return
    names = " or ".join(S(status).label.lower() for status in allowed)
    raise InvalidStateTransition(
        f"Cannot {verb} order {order.order_id}: it is {order.get_status_display().lower()}.",
        details=f"This action is for {names} orders.",
    )


def _moved_on(order: RenewalOrder, verb: str) -> InvalidStateTransition:
    now = _fresh(order)
    return InvalidStateTransition(
        f"Cannot {verb} order {order.order_id}: it just became {now.get_status_display().lower()} "
        "(someone or something else acted on it first).",
        details="Reload the order and check its audit trail.",
    )


def _require_fields(**values: str) -> None:
    missing = {name: ["This field is required."] for name, value in values.items() if not value}
    if missing:
        labels = " and ".join(name.replace("_", " ") for name in missing)
        raise InvalidInput(f"A {labels} is required.", fields=missing)


def _refuse_if_money_returned(order: RenewalOrder, verb: str) -> None:
    refund_row = (
        PaymentTransaction.objects.filter(
            order=order,
            kind=PaymentTransaction.Kind.REFUND,
            status__in=(PaymentTransaction.Status.REFUNDED, PaymentTransaction.Status.PENDING),
        )
        .order_by("-created_at")
        .first()
    )
    if refund_row is None:
        return
    state = "was refunded" if refund_row.status == PaymentTransaction.Status.REFUNDED else "is being refunded"
    raise InvalidStateTransition(
        f"Cannot {verb} order {order.order_id}: its payment {state} ({refund_row.gateway_reference}).",
        details="Check the refund in the payment dashboard before doing anything else with this order.",
    )


def _refuse_duplicate_reference(order: RenewalOrder, reference: str) -> None:
    if RenewalOrder.objects.filter(provider_reference=reference).exclude(pk=order.pk).exists():
        raise _duplicate_reference(reference)


def _duplicate_reference(reference: str) -> InvalidInput:
    other = (
        RenewalOrder.objects.filter(provider_reference=reference).values_list("order_id", flat=True).first()
    )
    message = f"Provider reference {reference} already belongs to order {other or 'another order'}."
    return InvalidInput(message, fields={"provider_reference": [message]})


def _earlier_top_up(order: RenewalOrder) -> TopUpResult | None:
    """The top-up of an earlier attempt when the provider shows one; None when there is none to find.

    Only a MANUAL_REVIEW order can hide one: PROVIDER_FAILED always follows a definite refusal (or
    the reconciler's check that nothing was applied). Raises when the provider cannot tell right now,
    or shows a top-up that belongs to another order: retrying blindly could top up twice, and we pay
    the provider for both.
    """
    client = provider_client(order.provider)
    if order.status != S.MANUAL_REVIEW or order.attempts == 0 or client is None:
        return None  # nothing unclear, or not configured (place_top_up sends it back to staff)
    since = (order.paid_at or order.created_at) - TOP_UP_LOOKBACK
    try:
        found = client.find_top_up(top_up_request(order), since=since)
    except ProviderNotFound:
        return None  # the provider does not know the eSIM: no top-up can have happened
    except (NotImplementedError, ValueError):
        logger.info("order %s: %s cannot say whether a top-up happened", order.order_id, order.provider)
        return None  # the provider API offers no way to ask; staff were told to check (operations.md)
    except ProviderError as exc:
        logger.warning("order %s: top-up check at %s failed: %s", order.order_id, order.provider, exc.code)
        raise ProviderCheckUnavailable(
            f"Could not ask {order.get_provider_display()} whether an earlier attempt of order "
            f"{order.order_id} went through ({exc.code}); nothing was changed.",
            details="Try again in a few minutes, or check the provider portal and use mark completed or refund.",
        ) from exc
    if found is not None:
        _refuse_if_reference_taken(order, found.reference)
    return found


def _refuse_if_reference_taken(order: RenewalOrder, reference: str) -> None:
    """The provider matches top-ups by eSIM, bundle and time only: the same bundle bought twice in a
    row shows the other order's top-up, and then ours may or may not exist."""
    other = (
        RenewalOrder.objects.filter(provider_reference=reference)
        .exclude(pk=order.pk)
        .values_list("order_id", flat=True)
        .first()
    )
    if other is not None:
        raise InvalidStateTransition(
            f"Cannot retry fulfilment of order {order.order_id} safely: {order.get_provider_display()} shows "
            f"a recent top-up of the same bundle, but it belongs to order {other}; nothing was changed.",
            details="Check the eSIM in the provider portal: if this order's top-up is there, use mark "
            "completed with its reference; if not, refund it (or retry once you are sure).",
        )
