"""The renewal reconciler: moves orders out of limbo when nobody is watching (docs/operations.md).

One pass (`python manage.py process_renewals`, or `--loop` as a worker) handles, in bounded batches:

- FULFILLING orders whose lease expired (a worker died, or the provider's answer was lost): take
  over the lease with a compare-and-set, ask the provider whether the top-up happened, and only if it
  did not, place it again — with capped exponential backoff, up to RENEWAL_MAX_ATTEMPTS. When the
  provider cannot tell, ask again later; after RENEWAL_MAX_ATTEMPTS attempts or
  RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES the order goes to MANUAL_REVIEW (never a blind second top-up);
- PAID orders that no worker claimed (a crash between PAID and FULFILLING);
- PENDING orders whose checkout expired or whose webhook never came: re-sync with the gateway;
- FAILED / EXPIRED / CANCELLED orders still inside their checkout's lifetime plus a margin: re-sync
  too, so a payment whose webhook was lost or misread is still fulfilled (or refunded);
- PROVIDER_FAILED orders left there by a crash: refund or hand to staff;
- REFUND_PENDING orders: re-send the refund (same idempotency key) or poll its status.

Every change goes through `order_state.transition`, so several reconcilers (and the web workers)
can run at once without doing anything twice. One order's error (any exception) is logged with its
order id and counted; the pass goes on with the next order.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from providers.errors import ProviderError
from pulse.exceptions import ApplicationError
from pulse.models import OrderAuditEntry, OrderStatus, RenewalOrder
from pulse.payments import GatewayError, get_gateway
from pulse.services import order_state
from pulse.services.emails import send_due_emails
from pulse.services.fulfilment import complete, fulfil, place_top_up, renewal_payment_sync, top_up_request
from pulse.services.providers import provider_client
from pulse.services.refunds import after_provider_failure, apply_refund, issue_refund

logger = logging.getLogger(__name__)
S = OrderStatus

BATCH = 100
BACKOFF_BASE_SECONDS = 30
BACKOFF_CAP_SECONDS = 3600
PENDING_QUIET = timedelta(minutes=5)  # give the customer and the webhook time before polling


def stuck_after() -> timedelta:
    """PAID / PROVIDER_FAILED rows untouched this long were abandoned (RECONCILER_STUCK_AFTER_SECONDS)."""
    return timedelta(seconds=settings.RECONCILER_STUCK_AFTER_SECONDS)


REFUND_POLL_EVERY = timedelta(minutes=10)
# A FAILED / EXPIRED / CANCELLED order is asked about again until its checkout's expiry plus this
# margin (late delayed-payment settlements and webhooks), every CLOSED_RECHECK_EVERY; never after.
CLOSED_RECHECK_MARGIN = timedelta(hours=1)
CLOSED_RECHECK_EVERY = timedelta(minutes=10)
CLOSED_UNPAID = (S.FAILED, S.EXPIRED, S.CANCELLED)


def backoff(attempts: int) -> timedelta:
    """30 s, 60 s, 120 s … capped at an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0), BACKOFF_CAP_SECONDS))


@dataclass
class PassSummary:
    counts: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    def add(self, key: str) -> None:
        self.counts[key] += 1

    def line(self) -> str:
        order = [
            "leases_reclaimed",
            "completed",
            "retried",
            "manual_review",
            "paid_resumed",
            "pending_synced",
            "expired",
            "closed_rechecked",
            "paid_after_close",
            "refunds_sent",
            "refunded",
            "emails_sent",
            "errors",
        ]
        parts = [f"{key.replace('_', ' ')} {self.counts.get(key, 0)}" for key in order]
        return f"process_renewals: {', '.join(parts)} in {self.seconds:.2f}s"


def reconcile_once(*, now: datetime | None = None, include_emails: bool = True) -> PassSummary:
    """One pass. `include_emails=False` leaves the e-mail sweep to its own scheduled job (Celery beat);
    cron users of `process_renewals` keep it in the pass."""
    started = time.monotonic()
    now = now or timezone.now()
    summary = PassSummary()
    steps = (
        _expired_leases,
        _abandoned_paid,
        _abandoned_provider_failures,
        _pending_checkouts,
        _recently_closed,
        _refunds,
        *((_emails,) if include_emails else ()),
    )
    for step in steps:
        try:
            step(now, summary)
        except Exception:  # one broken step must not stop the others; the next pass tries again
            summary.add("errors")
            logger.exception("reconciler step %s failed", step.__name__)
    summary.seconds = time.monotonic() - started
    return summary


# --- FULFILLING with an expired lease ------------------------------------------------------------


def _expired_leases(now: datetime, summary: PassSummary) -> None:
    due = RenewalOrder.objects.filter(status=S.FULFILLING, lease_until__lt=now)
    for pk, order_id in list(due.values_list("pk", "order_id")[:BATCH]):
        _guarded(summary, order_id, _reclaim, pk, now, summary)


def _reclaim(pk: int, now: datetime, summary: PassSummary) -> None:
    order = RenewalOrder.objects.get(pk=pk)
    hold = now + timedelta(seconds=settings.FULFILMENT_LEASE_SECONDS)
    if not order_state.transition(
        order, S.FULFILLING, S.FULFILLING, by="reconciler", action="lease taken over", lease_until=hold,
        expect={"lease_until__lt": now},
    ):  # fmt: skip
        return  # another reconciler took it
    summary.add("leases_reclaimed")
    order.refresh_from_db()
    verdict = _ask_provider(order)
    if verdict == "done":
        summary.add("completed")
    elif verdict == "unknown":
        _still_unknown(order, now, summary)
    elif verdict == "ambiguous":
        summary.add("manual_review")
    elif verdict == "unsupported":
        _to_manual_review(order, "the provider API cannot confirm whether the top-up happened")
        summary.add("manual_review")
    else:
        _retry_or_give_up(order, now, summary)


def _ask_provider(order: RenewalOrder) -> str:
    """'done' (completed now), 'absent', 'unknown' (ask later), 'ambiguous' or 'unsupported'."""
    client = provider_client(order.provider)
    if client is None:
        return "unsupported"
    since = (order.paid_at or order.created_at) - timedelta(minutes=5)
    try:
        found = client.find_top_up(top_up_request(order), since=since)
    except NotImplementedError:
        return "unsupported"
    except ProviderError as exc:  # the provider cannot tell (now): never taken for "absent"
        _note_unknown(order, f"reconcile: {exc.code}: {exc.message}")
        return "unknown"
    except Exception as exc:  # a bug or an answer we cannot read: still no proof either way
        logger.exception("order %s: asking %s for the top-up failed", order.order_id, order.provider)
        _note_unknown(order, f"reconcile: {type(exc).__name__}: {exc}")
        return "unknown"
    if found is None:
        return "absent"
    owner = RenewalOrder.objects.filter(provider_reference=found.reference).exclude(pk=order.pk).first()
    if owner is not None:
        # The provider shows a top-up of this bundle, but it is another order's: whether ours also
        # happened cannot be told apart, and guessing either way risks a double top-up or a lost one.
        _to_manual_review(order, f"provider shows top-up {found.reference} of order {owner.order_id} only")
        return "ambiguous"
    complete(order, by="reconciler", reference=found.reference, note="the provider shows the top-up")
    return "done"


def _note_unknown(order: RenewalOrder, message: str) -> None:
    order.last_error = message[:1000]
    RenewalOrder.objects.filter(pk=order.pk).update(last_error=order.last_error)


def _still_unknown(order: RenewalOrder, now: datetime, summary: PassSummary) -> None:
    """The provider could not tell whether the top-up happened: ask again later, within a budget.

    Ordering again could top up twice, so after RENEWAL_MAX_ATTEMPTS attempts or the time budget
    the order goes to staff with the reason; it never stays FULFILLING for ever.
    """
    budget = timedelta(minutes=settings.RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES)
    deadline = _fulfilment_started_at(order) + budget
    if order.attempts >= settings.RENEWAL_MAX_ATTEMPTS:
        why = f"after {order.attempts} attempts"
    elif now >= deadline:
        why = f"for {settings.RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES} minutes"
    else:
        _postpone(order, now, until=min(now + backoff(order.attempts), deadline))
        return
    note = f"top-up outcome still unknown {why}; the provider cannot tell ({order.last_error})"
    logger.warning("order %s: %s", order.order_id, note)
    if _to_manual_review(order, note):
        summary.add("manual_review")


def _fulfilment_started_at(order: RenewalOrder) -> datetime:
    """When the current run of top-up attempts began: the claim after payment, or a staff retry."""
    started = (
        OrderAuditEntry.objects.filter(order_id=order.pk, to_status=S.FULFILLING)
        .exclude(from_status=S.FULFILLING)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    return started or order.paid_at or order.created_at


def _retry_or_give_up(order: RenewalOrder, now: datetime, summary: PassSummary) -> None:
    if order.attempts >= settings.RENEWAL_MAX_ATTEMPTS:
        # The provider confirms nothing was applied: refunding cannot double-serve the customer.
        note = f"no top-up after {order.attempts} attempts"
        if order_state.transition(
            order, S.FULFILLING, S.PROVIDER_FAILED, by="reconciler", note=note, lease_until=None
        ):
            after_provider_failure(order.pk, by="reconciler")
            summary.add("manual_review" if not settings.RENEWAL_AUTO_REFUND else "refunds_sent")
        return
    due = (order.next_attempt_at or now) <= now
    if not due:
        _postpone(order, now, until=order.next_attempt_at)
        return
    lease = now + timedelta(seconds=settings.FULFILMENT_LEASE_SECONDS)
    if order_state.transition(
        order, S.FULFILLING, S.FULFILLING, by="reconciler", action="retry top-up", lease_until=lease,
        increment_attempts=True, next_attempt_at=now + backoff(order.attempts + 1),
    ):  # fmt: skip
        summary.add("retried")
        place_top_up(order.pk, by="reconciler")


def _postpone(order: RenewalOrder, now: datetime, until: datetime | None = None) -> None:
    """Let the lease run out again later, so the next look happens after a backoff."""
    RenewalOrder.objects.filter(pk=order.pk, status=S.FULFILLING).update(
        lease_until=until or now + backoff(order.attempts)
    )


def _to_manual_review(order: RenewalOrder, note: str) -> bool:
    return order_state.transition(
        order, S.FULFILLING, S.MANUAL_REVIEW, by="reconciler", note=note[:1000], lease_until=None,
        last_error=note[:1000],
    )  # fmt: skip


# --- orders abandoned between two steps ----------------------------------------------------------


def _abandoned_paid(now: datetime, summary: PassSummary) -> None:
    stuck = RenewalOrder.objects.filter(status=S.PAID, updated_at__lt=now - stuck_after())
    for order in list(stuck[:BATCH]):
        if _guarded(summary, order.order_id, fulfil, order, by="reconciler"):
            summary.add("paid_resumed")


def _abandoned_provider_failures(now: datetime, summary: PassSummary) -> None:
    stuck = RenewalOrder.objects.filter(status=S.PROVIDER_FAILED, updated_at__lt=now - stuck_after())
    for pk, order_id in list(stuck.values_list("pk", "order_id")[:BATCH]):
        _guarded(summary, order_id, after_provider_failure, pk, by="reconciler")


# --- PENDING checkouts -------------------------------------------------------------------------------


def _pending_checkouts(now: datetime, summary: PassSummary) -> None:
    due = RenewalOrder.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status=S.PENDING,
        checkout_session_id__isnull=False,
        created_at__lt=now - PENDING_QUIET,
    )
    for order in list(due[:BATCH]):
        _guarded(summary, order.order_id, _sync_pending, order, now, summary)


def _sync_pending(order: RenewalOrder, now: datetime, summary: PassSummary) -> None:
    if order.checkout_expires_at and order.checkout_expires_at < now:
        # Stripe expires sessions itself, but asking makes the state final without waiting for it.
        get_gateway(order.gateway).expire_checkout(order.checkout_session_id)
    result = renewal_payment_sync(session_id=order.checkout_session_id, by="reconciler")
    summary.add("pending_synced")
    if result.order.status == S.EXPIRED:
        summary.add("expired")
    elif result.order.status == S.PENDING:
        RenewalOrder.objects.filter(pk=order.pk, status=S.PENDING).update(next_attempt_at=now + PENDING_QUIET)


# --- closed unpaid, but maybe paid after all ----------------------------------------------------------


def _recently_closed(now: datetime, summary: PassSummary) -> None:
    """FAILED / EXPIRED / CANCELLED orders whose checkout could still have taken money.

    Only the gateway's state decides, so these are normally final; but a webhook can be lost or a
    sync can race a late payment, and money taken must end COMPLETED or REFUNDED. Each such order
    is asked about every CLOSED_RECHECK_EVERY until its checkout's expiry plus CLOSED_RECHECK_MARGIN.
    """
    lifetime = timedelta(minutes=settings.STRIPE_CHECKOUT_EXPIRY_MINUTES)
    due = RenewalOrder.objects.filter(
        Q(checkout_expires_at__gt=now - CLOSED_RECHECK_MARGIN)
        | Q(checkout_expires_at__isnull=True, created_at__gt=now - lifetime - CLOSED_RECHECK_MARGIN),
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        status__in=CLOSED_UNPAID,
        checkout_session_id__isnull=False,
    )
    for order in list(due[:BATCH]):
        _guarded(summary, order.order_id, _recheck_closed, order, now, summary)


def _recheck_closed(order: RenewalOrder, now: datetime, summary: PassSummary) -> None:
    RenewalOrder.objects.filter(pk=order.pk, status__in=CLOSED_UNPAID).update(
        next_attempt_at=now + CLOSED_RECHECK_EVERY
    )
    result = renewal_payment_sync(session_id=order.checkout_session_id, by="reconciler")
    summary.add("closed_rechecked")
    if result.order.status not in CLOSED_UNPAID:
        logger.warning(
            "order %s was %s but its checkout was paid: now %s",
            order.order_id,
            order.status,
            result.order.status,
        )
        summary.add("paid_after_close")


# --- refunds -----------------------------------------------------------------------------------------


def _refunds(now: datetime, summary: PassSummary) -> None:
    due = RenewalOrder.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now), status=S.REFUND_PENDING
    )
    for order in list(due[:BATCH]):
        _guarded(summary, order.order_id, _settle_refund, order, now, summary)


def _settle_refund(order: RenewalOrder, now: datetime, summary: PassSummary) -> None:
    RenewalOrder.objects.filter(pk=order.pk).update(next_attempt_at=now + REFUND_POLL_EVERY)
    if not order.refund_id:
        issue_refund(order.pk, by="reconciler")  # the same key: never a second refund
        summary.add("refunds_sent")
    else:
        apply_refund(order, get_gateway(order.gateway).retrieve_refund(order.refund_id), by="reconciler")
    order.refresh_from_db()
    if order.status == S.REFUNDED:
        summary.add("refunded")


# --- customer e-mails ------------------------------------------------------------------------------


def _emails(now: datetime, summary: PassSummary) -> None:
    """E-mails the after-commit listener could not send (mail server down, process killed)."""
    sent = send_due_emails()
    if sent:
        summary.counts["emails_sent"] += sent


def _guarded(summary: PassSummary, order_id: str, fn, *args, **kwargs):
    """Run one order's step; any error is logged with the order id and counted, and the pass goes on
    with the next order (this one is tried again on a later pass)."""
    step = getattr(fn, "__name__", "step")
    try:
        return fn(*args, **kwargs)
    except (ApplicationError, GatewayError, ProviderError) as exc:  # expected now and then: no traceback
        summary.add("errors")
        logger.warning("reconciler: %s for order %s failed: %s", step, order_id, exc)
    except Exception:
        summary.add("errors")
        logger.exception("reconciler: %s for order %s failed unexpectedly", step, order_id)
    return None
