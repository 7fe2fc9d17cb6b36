"""The renewal order state machine: the only code that changes `RenewalOrder.status`.

Every transition is a compare-and-set (`UPDATE … WHERE pk = … AND status IN (…)`), so concurrent
confirm calls, webhooks and reconcilers agree on one winner on SQLite and PostgreSQL alike, and each
successful transition writes an audit entry in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from pulse.models import OrderAuditEntry, OrderStatus, RenewalOrder

logger = logging.getLogger(__name__)

S = OrderStatus
ALLOWED: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PAID, S.FAILED, S.EXPIRED, S.CANCELLED}),
    # Money the gateway says was taken wins over an expiry or cancellation we recorded earlier.
    S.EXPIRED: frozenset({S.PAID}),
    S.CANCELLED: frozenset({S.PAID}),
    S.FAILED: frozenset({S.PAID}),
    S.PAID: frozenset({S.FULFILLING}),
    # FULFILLING -> FULFILLING is a reconciler re-claiming an expired lease.
    S.FULFILLING: frozenset({S.COMPLETED, S.PROVIDER_FAILED, S.FULFILLING, S.MANUAL_REVIEW}),
    S.PROVIDER_FAILED: frozenset({S.FULFILLING, S.REFUND_PENDING, S.MANUAL_REVIEW}),
    S.REFUND_PENDING: frozenset({S.REFUNDED, S.MANUAL_REVIEW}),
    S.MANUAL_REVIEW: frozenset({S.FULFILLING, S.REFUND_PENDING, S.COMPLETED}),
    S.COMPLETED: frozenset(),
    # Card refunds can fail days after they looked successful (charge.refund.updated).
    S.REFUNDED: frozenset({S.MANUAL_REVIEW}),
}
PAID_STATES = frozenset(
    {S.PAID, S.FULFILLING, S.COMPLETED, S.PROVIDER_FAILED, S.REFUND_PENDING, S.REFUNDED, S.MANUAL_REVIEW}
)
FINAL_STATES = frozenset({S.COMPLETED, S.REFUNDED})

# Called after a committed transition: (order pk, new status). E-mails hook in here.
_listeners: list[Callable[[int, str], None]] = []


class IllegalTransition(ValueError):
    """A programming error: the code asked for a transition the table does not allow."""


def on_transition(listener: Callable[[int, str], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def can_transition(source: str, target: str) -> bool:
    return target in ALLOWED.get(source, frozenset())


def transition(
    order: RenewalOrder | int,
    sources: Iterable[str] | str,
    target: str,
    *,
    by: str,
    action: str = "",
    note: str = "",
    actor=None,
    increment_attempts: bool = False,
    expect: dict | None = None,
    **fields,
) -> bool:
    """Move the order from any of `sources` to `target`; False when another party moved it first.

    `expect` adds conditions to the compare-and-set (e.g. `{"lease_until__lt": now}` so only one
    reconciler can take over an expired lease).
    """
    pk = order.pk if isinstance(order, RenewalOrder) else order
    sources = [sources] if isinstance(sources, str) else list(sources)
    for source in sources:
        if not can_transition(source, target):
            raise IllegalTransition(f"{source} -> {target} is not an allowed order transition")
    updates = {"status": target, "updated_at": timezone.now(), **fields}
    if increment_attempts:
        updates["attempts"] = F("attempts") + 1
    with transaction.atomic():
        conditions = expect or {}
        previous = (
            RenewalOrder.objects.filter(pk=pk, status__in=sources, **conditions)
            .values_list("status", flat=True)
            .first()
        )
        if previous is None:
            return False
        moved = RenewalOrder.objects.filter(pk=pk, status=previous, **conditions).update(**updates)
        if not moved:
            return False
        OrderAuditEntry.objects.create(
            order_id=pk,
            source=by,
            action=action or f"to {target.lower()}",
            from_status=previous,
            to_status=target,
            note=note,
            actor=actor,
        )
        transaction.on_commit(lambda: _notify(pk, target))
    logger.info("order %s: %s -> %s (%s)", pk, previous, target, by, extra={"order_pk": pk, "source": by})
    return True


def record(order: RenewalOrder, *, by: str, action: str, note: str = "", actor=None) -> None:
    """An audit entry for something that is not a status change (e.g. a staff note, a refund retry)."""
    status = RenewalOrder.objects.filter(pk=order.pk).values_list("status", flat=True).first() or order.status
    OrderAuditEntry.objects.create(
        order=order, source=by, action=action, from_status=status, to_status=status, note=note, actor=actor
    )


def _notify(pk: int, status: str) -> None:
    for listener in list(_listeners):
        try:
            listener(pk, status)
        except Exception:  # a listener (e-mail) must never undo or fail a committed transition
            logger.exception("transition listener failed for order %s", pk)
