"""Staff actions on renewal orders (pulse.services.staff_actions): state machine, audit, refusals."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pulse.exceptions import InvalidInput, InvalidStateTransition
from pulse.models import PaymentTransaction, RenewalOrder, SandboxRefund
from pulse.services import staff_actions
from pulse.services.staff_actions import ProviderCheckUnavailable
from pulse.tests.staff_helpers import (
    DEMO_BUNDLE,
    TOP_UP_PATH,
    S,
    paid_order,
    sandbox_world_fixture,  # noqa: F401
    set_status,
    staff_user_fixture,  # noqa: F401
    trail,
)

pytestmark = pytest.mark.django_db


def refunds_of(order: RenewalOrder) -> list[tuple[str, str, int]]:
    return list(
        SandboxRefund.objects.filter(payment_intent_id=order.payment_intent_id).values_list(
            "idempotency_key", "status", "amount_minor"
        )
    )


# --- retry ---------------------------------------------------------------------------------------


def test_retry_of_a_provider_failed_order_tops_up_once_and_completes(sandbox_world, staff_user):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    assert (order.status, order.attempts, sandbox_world.topups()) == (S.PROVIDER_FAILED, 1, [])

    result = staff_actions.retry_fulfilment(order, user=staff_user, note="provider fixed its stock")

    assert result.status == S.COMPLETED
    assert result.attempts == 2
    assert result.lease_until is None
    topups = sandbox_world.topups("travelroam")
    assert [(t["item"], t["reference"]) for t in topups] == [(DEMO_BUNDLE, result.provider_reference)]
    assert trail(order)[-2:] == [
        (
            "admin",
            "staff retry fulfilment",
            S.PROVIDER_FAILED,
            S.FULFILLING,
            "ops",
            "provider fixed its stock",
        ),
        ("admin", "to completed", S.FULFILLING, S.COMPLETED, None, ""),
    ]


def test_retry_claims_with_a_fresh_lease(sandbox_world, staff_user, monkeypatch, settings):
    settings.FULFILMENT_LEASE_SECONDS = 120
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    seen = {}

    def record_claim(order_pk, *, by):
        seen.update(
            RenewalOrder.objects.filter(pk=order_pk).values("status", "lease_until", "attempts").get()
        )
        seen["by"] = by

    monkeypatch.setattr(staff_actions, "place_top_up", record_claim)
    before = timezone.now()
    staff_actions.retry_fulfilment(order, user=staff_user)
    assert (seen["status"], seen["attempts"], seen["by"]) == (S.FULFILLING, 2, "admin")
    assert before + timedelta(seconds=110) < seen["lease_until"] <= timezone.now() + timedelta(seconds=120)


def test_retry_of_a_manual_review_order_completes_it(sandbox_world, staff_user, settings):
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)
    assert order.status == S.MANUAL_REVIEW

    result = staff_actions.retry_fulfilment(order, user=staff_user)

    assert result.status == S.COMPLETED
    assert len(sandbox_world.topups()) == 1


def test_retry_finds_a_top_up_the_provider_already_made_and_does_not_order_again(sandbox_world, staff_user):
    # The top-up went through, but the answer was lost and the order ended with staff.
    order = paid_order(sandbox_world)
    reference = order.provider_reference
    order = set_status(order, S.MANUAL_REVIEW, provider_reference=None, completed_at=None)

    result = staff_actions.retry_fulfilment(order, user=staff_user)

    assert (result.status, result.provider_reference) == (S.COMPLETED, reference)
    assert len(sandbox_world.topups()) == 1
    assert "already shows this top-up" in trail(order)[-1][5]


def test_retry_is_refused_when_the_provider_cannot_say_whether_an_attempt_went_through(
    sandbox_world, staff_user, settings
):
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)
    sandbox_world.set_fault("travelroam", "http_500", path_contains="applied")

    with pytest.raises(ProviderCheckUnavailable, match="Could not ask TravelRoam"):
        staff_actions.retry_fulfilment(order, user=staff_user)

    order.refresh_from_db()
    assert (order.status, order.attempts) == (S.MANUAL_REVIEW, 1)
    assert sandbox_world.topups() == []


def test_a_provider_failed_order_is_retried_without_asking_the_provider(sandbox_world, staff_user):
    # PROVIDER_FAILED follows a definite refusal: there is no earlier top-up to look for.
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    sandbox_world.set_fault("travelroam", "http_500", path_contains="applied")
    assert staff_actions.retry_fulfilment(order, user=staff_user).status == S.COMPLETED


def test_retry_refuses_when_the_provider_shows_only_another_orders_top_up(
    sandbox_world, staff_user, settings
):
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)
    other = paid_order(sandbox_world)  # the same bundle on the same eSIM, a minute later

    with pytest.raises(InvalidStateTransition) as caught:
        staff_actions.retry_fulfilment(order, user=staff_user)

    assert caught.value.message == (
        f"Cannot retry fulfilment of order {order.order_id} safely: TravelRoam shows a recent top-up of the "
        f"same bundle, but it belongs to order {other.order_id}; nothing was changed."
    )
    order.refresh_from_db()
    assert order.status == S.MANUAL_REVIEW
    assert len(sandbox_world.topups()) == 1


def test_a_retry_the_provider_refuses_again_follows_the_refund_rules(sandbox_world, staff_user):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    sandbox_world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH, times=1)

    result = staff_actions.retry_fulfilment(order, user=staff_user)

    assert result.status == S.REFUNDED
    assert refunds_of(order) == [(f"refund:{order.order_id}", "succeeded", 160)]


@pytest.mark.parametrize(
    "status", [S.PENDING, S.PAID, S.FULFILLING, S.COMPLETED, S.REFUND_PENDING, S.REFUNDED]
)
def test_retry_is_refused_in_other_states_with_a_clear_message(sandbox_world, staff_user, status):
    order = set_status(paid_order(sandbox_world), status)
    with pytest.raises(InvalidStateTransition) as caught:
        staff_actions.retry_fulfilment(order, user=staff_user)
    assert caught.value.message.startswith(f"Cannot retry fulfilment of order {order.order_id}: it is ")
    assert caught.value.details == "This action is for provider failed or manual review orders."
    order.refresh_from_db()
    assert order.status == status


def test_retry_is_refused_once_the_money_went_back(sandbox_world, staff_user):
    order = paid_order(sandbox_world, refuse_top_up=True)  # auto-refund: REFUNDED
    assert order.status == S.REFUNDED
    order = set_status(order, S.MANUAL_REVIEW)  # e.g. a late refund event put it in front of staff

    with pytest.raises(InvalidStateTransition, match="its payment was refunded"):
        staff_actions.retry_fulfilment(order, user=staff_user)
    assert sandbox_world.topups() == []


# --- refund --------------------------------------------------------------------------------------


def test_refund_of_a_provider_failed_order(sandbox_world, staff_user):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)

    result = staff_actions.refund(order, user=staff_user, note="customer asked")

    assert result.status == S.REFUNDED
    assert result.refunded_at is not None
    assert refunds_of(order) == [(f"refund:{order.order_id}", "succeeded", 160)]
    rows = PaymentTransaction.objects.filter(order=order, kind=PaymentTransaction.Kind.REFUND)
    assert [(r.status, r.amount, r.currency) for r in rows] == [("REFUNDED", Decimal("1.60"), "USD")]
    assert ("admin", "staff refund", S.PROVIDER_FAILED, S.REFUND_PENDING, "ops", "customer asked") in trail(
        order
    )
    assert trail(order)[-1][1:4] == ("refunded", S.REFUND_PENDING, S.REFUNDED)


def test_refund_of_a_manual_review_order(sandbox_world, staff_user, settings):
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)
    assert staff_actions.refund(order, user=staff_user).status == S.REFUNDED


def test_refund_of_a_refund_pending_order_asks_again_with_the_same_key(sandbox_world, staff_user):
    order = paid_order(sandbox_world, refuse_top_up=True, stop_after_failure=True)
    order = set_status(order, S.REFUND_PENDING)  # the refund call never went out (gateway down)

    first = staff_actions.refund(order, user=staff_user, note="stuck for hours")
    second_try = set_status(first, S.REFUND_PENDING)  # as if the answer was lost again
    staff_actions.refund(second_try, user=staff_user)

    assert refunds_of(order) == [(f"refund:{order.order_id}", "succeeded", 160)]  # one refund, ever
    assert (
        "admin",
        "staff retry refund",
        S.REFUND_PENDING,
        S.REFUND_PENDING,
        "ops",
        "stuck for hours",
    ) in trail(order)


def test_a_completed_order_cannot_be_refunded_here(sandbox_world, staff_user):
    order = paid_order(sandbox_world)
    assert order.status == S.COMPLETED
    with pytest.raises(InvalidStateTransition) as caught:
        staff_actions.refund(order, user=staff_user, note="goodwill")
    assert caught.value.message == (
        f"Order {order.order_id} is completed: the customer received the top-up, so it cannot be refunded from here."
    )
    assert refunds_of(order) == []


@pytest.mark.parametrize("status", [S.PENDING, S.PAID, S.FULFILLING, S.REFUNDED, S.EXPIRED])
def test_refund_is_refused_in_other_states(sandbox_world, staff_user, status):
    order = set_status(paid_order(sandbox_world), status)
    with pytest.raises(InvalidStateTransition, match=f"Cannot refund order {order.order_id}"):
        staff_actions.refund(order, user=staff_user)
    assert refunds_of(order) == []


# --- mark completed ------------------------------------------------------------------------------


def test_mark_completed_records_the_reference_and_the_note(sandbox_world, staff_user, settings):
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)

    result = staff_actions.mark_completed(
        order, user=staff_user, note="  topped up in the portal  ", provider_reference=" TR-123 "
    )

    assert (result.status, result.provider_reference) == (S.COMPLETED, "TR-123")
    assert result.completed_at is not None
    assert trail(order)[-1] == (
        "admin",
        "staff marked completed",
        S.MANUAL_REVIEW,
        S.COMPLETED,
        "ops",
        "topped up in the portal",
    )


@pytest.mark.parametrize(
    ("note", "reference", "fields"),
    [
        ("", "TR-1", ["note"]),
        ("checked", "  ", ["provider_reference"]),
        ("", "", ["note", "provider_reference"]),
    ],
)
def test_mark_completed_requires_a_note_and_a_reference(
    sandbox_world, staff_user, settings, note, reference, fields
):
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)
    with pytest.raises(InvalidInput) as caught:
        staff_actions.mark_completed(order, user=staff_user, note=note, provider_reference=reference)
    assert sorted(caught.value.fields) == fields
    order.refresh_from_db()
    assert order.status == S.MANUAL_REVIEW


def test_mark_completed_refuses_a_reference_of_another_order(sandbox_world, staff_user, settings):
    other = paid_order(sandbox_world)
    settings.RENEWAL_AUTO_REFUND = False
    order = paid_order(sandbox_world, refuse_top_up=True)
    with pytest.raises(InvalidInput, match=f"already belongs to order {other.order_id}"):
        staff_actions.mark_completed(
            order, user=staff_user, note="checked", provider_reference=other.provider_reference
        )


@pytest.mark.parametrize("status", [S.FULFILLING, S.PROVIDER_FAILED, S.COMPLETED])
def test_mark_completed_is_only_for_manual_review(sandbox_world, staff_user, status):
    order = set_status(paid_order(sandbox_world), status, provider_reference=None)
    with pytest.raises(InvalidStateTransition) as caught:
        staff_actions.mark_completed(order, user=staff_user, note="n", provider_reference="TR-9")
    assert caught.value.message.startswith(f"Cannot mark completed order {order.order_id}: it is ")
    assert caught.value.details == "This action is for manual review orders."
    order.refresh_from_db()
    assert (order.status, order.provider_reference) == (status, None)


# --- notes and needs attention -------------------------------------------------------------------


def test_a_note_is_kept_without_changing_the_order(sandbox_world, staff_user):
    order = paid_order(sandbox_world)
    staff_actions.add_note(order, user=staff_user, note="customer called")
    assert trail(order)[-1] == ("admin", "staff note", S.COMPLETED, S.COMPLETED, "ops", "customer called")
    with pytest.raises(InvalidInput):
        staff_actions.add_note(order, user=staff_user, note="   ")


def test_needs_attention_covers_each_kind_of_stuck_order(sandbox_world):
    now = timezone.now()
    fine = set_status(paid_order(sandbox_world), S.FULFILLING, lease_until=now + timedelta(minutes=5))
    stuck = {
        "manual_review": set_status(paid_order(sandbox_world), S.MANUAL_REVIEW),
        "provider_failed": set_status(paid_order(sandbox_world), S.PROVIDER_FAILED),
        "stuck_fulfilling": set_status(
            paid_order(sandbox_world), S.FULFILLING, lease_until=now - timedelta(seconds=1)
        ),
        "stale_pending": set_status(
            paid_order(sandbox_world), S.PENDING, checkout_expires_at=now - timedelta(minutes=1)
        ),
        "slow_refund": set_status(
            paid_order(sandbox_world), S.REFUND_PENDING, updated_at=now - timedelta(hours=2)
        ),
        # The receipt has been failing for 2 hours (the order itself is done).
        "email_overdue": set_status(
            paid_order(sandbox_world), S.COMPLETED, email_failing_since=now - timedelta(hours=2)
        ),
    }
    set_status(paid_order(sandbox_world), S.REFUND_PENDING, updated_at=now - timedelta(minutes=10))  # not yet
    set_status(
        paid_order(sandbox_world), S.COMPLETED, email_failing_since=now - timedelta(minutes=10)
    )  # not yet
    set_status(paid_order(sandbox_world), S.PENDING, checkout_expires_at=now + timedelta(minutes=30))

    for kind, order in stuck.items():
        matched = RenewalOrder.objects.filter(staff_actions.needs_attention_q(kind))
        assert list(matched) == [order], kind
    everything = set(RenewalOrder.objects.filter(staff_actions.needs_attention_q("all")))
    assert everything == set(stuck.values())
    assert fine not in everything
    assert staff_actions.attention_counts() == {**dict.fromkeys(stuck, 1), "all": 6}
