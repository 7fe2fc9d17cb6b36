"""Confirm-payment with background fulfilment (docs/renewals.md §4, docs/background.md).

The customer's success page calls confirm (twice at once in the frontend's development mode, again on
every reload) and shows the status it gets, so confirm answers with the order as settled as it can
be within CONFIRM_WAIT_SECONDS:

1. sync with the gateway (PENDING -> PAID), without placing the top-up here;
2. hand a PAID order to a worker (a second hand-over is a no-op: the task claims with a CAS);
3. wait for the worker to finish; if no worker has claimed the order after
   CONFIRM_FULFIL_AFTER_SECONDS (none running, broker down), claim it here and place the top-up.
   The claim is the same PAID -> FULFILLING compare-and-set, so a worker that wakes up late finds the
   order claimed: never two top-ups;
4. a COMPLETED order's cached status is dropped in this process too (without Redis, the worker's
   clean-up cannot reach this process's memory).
"""

from __future__ import annotations

import time

from django.conf import settings

from pulse.models import OrderStatus, RenewalOrder
from pulse.services import fulfilment
from pulse.services.background import enqueue_fulfilment
from pulse.services.fulfilment import SyncResult
from pulse.services.status import forget_status

S = OrderStatus
IN_PROGRESS = frozenset({S.PAID, S.FULFILLING})
POLL_SECONDS = 0.1


def renewal_payment_confirm(*, session_id: str) -> SyncResult:
    result = fulfilment.renewal_payment_sync(session_id=session_id, by="confirm", fulfil_now=False)
    order = _await_fulfilment(result.order) if result.order.status in IN_PROGRESS else result.order
    if order.status == S.COMPLETED:
        # The worker cleared the status cache it shares with us; a per-process cache (no Redis) still
        # holds the pre-renewal answer here, and the customer is about to look at the eSIM again.
        forget_status(order.iccid)
    return SyncResult(order, result.checkout)


def _await_fulfilment(order: RenewalOrder) -> RenewalOrder:
    started = time.monotonic()
    handed_over = order.status == S.PAID and enqueue_fulfilment(order.pk)
    # Nobody can be working on an order whose task never reached the broker: no reason to wait.
    fulfil_after = settings.CONFIRM_FULFIL_AFTER_SECONDS if handed_over else 0.0
    while True:
        order.refresh_from_db()
        waited = time.monotonic() - started
        if order.status == S.PAID and waited >= fulfil_after:
            fulfilment.fulfil(order, by="confirm")
            order.refresh_from_db()
        if order.status not in IN_PROGRESS or waited >= settings.CONFIRM_WAIT_SECONDS:
            return order
        time.sleep(POLL_SECONDS)
