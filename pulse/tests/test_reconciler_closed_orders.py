"""A payment is never lost: the reconciler re-checks orders closed as FAILED / EXPIRED / CANCELLED while
their checkout could still have taken money, and stops once that window has passed (issue 11, item 5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from pulse.models import OrderStatus, RenewalOrder
from pulse.payments import get_gateway
from pulse.payments.sandbox_gateway import SandboxGateway
from pulse.services.order_state import transition
from pulse.services.reconciler import CLOSED_RECHECK_EVERY, CLOSED_RECHECK_MARGIN, reconcile_once
from pulse.services.renewals import renewal_order_create
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    renewal_env_fixture,
    top_ups,
    world_fixture,
)

pytestmark = [pytest.mark.django_db]

S = OrderStatus
SEED = "8932042000010245583"  # TravelRoam, the README's Turkey 1GB/7D bundle


def closed_order(status: str) -> RenewalOrder:
    """An order we closed while its checkout was still open (a misread event, a lost race)."""
    order = renewal_order_create(iccid=SEED, currency="USD").order
    assert transition(order, S.PENDING, status, by="test", note="closed early")
    order.refresh_from_db()
    return order


def pay_and_lose_the_webhook(order: RenewalOrder) -> None:
    get_gateway().sandbox_complete(order.checkout_session_id, "paid")  # the event is never delivered


@pytest.mark.parametrize("closed_as", [S.EXPIRED, S.FAILED, S.CANCELLED])
def test_a_checkout_paid_after_we_closed_the_order_is_fulfilled_exactly_once(world, closed_as):
    order = closed_order(closed_as)
    pay_and_lose_the_webhook(order)

    summary = reconcile_once(now=timezone.now() + timedelta(minutes=2))

    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert (summary.counts["closed_rechecked"], summary.counts["paid_after_close"]) == (1, 1)
    assert len(top_ups()) == 1
    assert order.payment_intent_id
    # Later passes find nothing left to do: still one top-up.
    reconcile_once(now=timezone.now() + timedelta(minutes=30))
    order.refresh_from_db()
    assert (order.status, len(top_ups())) == (S.COMPLETED, 1)


def test_a_checkout_paid_after_we_closed_the_order_is_refunded_when_the_provider_refuses(world):
    order = closed_order(S.EXPIRED)
    pay_and_lose_the_webhook(order)
    world.set_fault("travelroam", "rejected", path_contains="processorders")

    reconcile_once(now=timezone.now() + timedelta(minutes=2))

    order.refresh_from_db()
    assert order.status == S.REFUNDED
    assert top_ups() == []


def test_a_closed_order_whose_checkout_stayed_unpaid_stays_closed(world):
    order = closed_order(S.FAILED)

    summary = reconcile_once(now=timezone.now() + timedelta(minutes=2))

    order.refresh_from_db()
    assert order.status == S.FAILED
    assert (summary.counts["closed_rechecked"], summary.counts["paid_after_close"]) == (1, 0)
    assert top_ups() == []


def test_orders_closed_long_ago_are_not_polled(world, monkeypatch):
    order = closed_order(S.EXPIRED)
    asked = []
    original = SandboxGateway.retrieve_checkout

    def counting(self, session_id):
        asked.append(session_id)
        return original(self, session_id)

    monkeypatch.setattr(SandboxGateway, "retrieve_checkout", counting)
    window_ends = order.checkout_expires_at + CLOSED_RECHECK_MARGIN

    reconcile_once(now=window_ends - timedelta(minutes=5))  # still inside: asked
    reconcile_once(now=window_ends - timedelta(minutes=5) + CLOSED_RECHECK_EVERY / 2)  # asked just now
    assert asked == [order.checkout_session_id]

    for after in (timedelta(minutes=1), timedelta(hours=1), timedelta(days=30)):
        reconcile_once(now=window_ends + after)

    assert asked == [order.checkout_session_id]
    order.refresh_from_db()
    assert order.status == S.EXPIRED
