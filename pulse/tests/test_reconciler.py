"""The reconciler settles every limbo state, never tops up twice, and is safe to run concurrently."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from providers.sandbox import get_default_world, reset_default_world
from pulse.models import OrderStatus, PaymentTransaction, RenewalOrder
from pulse.payments import get_gateway
from pulse.services.reconciler import backoff, reconcile_once
from pulse.services.renewals import renewal_order_create
from pulse.services.webhooks import payment_webhook_receive
from pulse.tests.race_helpers import exceptions_in, run_together, skip_unless_shared_database

S = OrderStatus
SEED = "8932042000010245583"
TOPUP_PATH = "/processorders"
LATER = timedelta(hours=1)


@pytest.fixture(autouse=True)
def world():
    world = reset_default_world()
    yield world
    world.clear_faults()


def new_order() -> RenewalOrder:
    result = renewal_order_create(iccid=SEED, currency="USD")
    return result.order


def pay_at_gateway(order: RenewalOrder, *, deliver: bool) -> None:
    """The customer pays; the webhook is delivered or lost."""
    _state, body, signature = get_gateway().sandbox_complete(order.checkout_session_id, "paid")
    if deliver:
        payment_webhook_receive(body=body, signature=signature)


def topups():
    return get_default_world().topups("travelroam")


def fulfilling_with_lost_answer(world, mode: str) -> RenewalOrder:
    """Paid and claimed, but the provider's answer never arrived (worker killed / timeout)."""
    order = new_order()
    world.set_fault("travelroam", mode, path_contains=TOPUP_PATH, times=1, delay_s=1.0)
    with override_settings(PROVIDER_TIMEOUT=0.2):
        pay_at_gateway(order, deliver=True)
    order.refresh_from_db()
    assert order.status == S.FULFILLING
    return order


@pytest.mark.django_db
def test_lost_answer_but_the_provider_did_top_up_completes_without_ordering_again(world):
    order = fulfilling_with_lost_answer(world, "timeout")
    assert len(topups()) == 1  # the sandbox carried out the timed-out request
    summary = reconcile_once(now=timezone.now() + LATER)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert order.provider_reference == topups()[0]["reference"]
    assert len(topups()) == 1
    assert summary.counts["completed"] == 1


@pytest.mark.django_db
def test_lost_request_is_placed_again_once(world):
    order = fulfilling_with_lost_answer(world, "connection_refused")
    assert topups() == []
    reconcile_once(now=timezone.now() + LATER)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert len(topups()) == 1
    assert order.attempts == 2


@pytest.mark.django_db
def test_provider_that_cannot_answer_postpones_with_backoff(world):
    order = fulfilling_with_lost_answer(world, "connection_refused")
    world.set_fault("travelroam", "http_500", path_contains="/esims/applied/bundles")
    # After the lease, inside RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES (test_reconciler_unknown_outcome.py).
    now = timezone.now() + timedelta(minutes=6)
    reconcile_once(now=now)
    order.refresh_from_db()
    assert order.status == S.FULFILLING
    assert order.lease_until == now + backoff(order.attempts)
    assert "reconcile" in order.last_error
    assert topups() == []


@pytest.mark.django_db
@override_settings(RENEWAL_MAX_ATTEMPTS=1)
def test_attempts_exhausted_with_no_top_up_is_refunded(world):
    order = fulfilling_with_lost_answer(world, "connection_refused")
    reconcile_once(now=timezone.now() + LATER)
    order.refresh_from_db()
    assert order.status == S.REFUNDED
    assert topups() == []
    assert PaymentTransaction.objects.filter(order=order, kind="REFUND", status="REFUNDED").count() == 1


@pytest.mark.django_db
def test_paid_order_never_claimed_is_fulfilled(world):
    order = new_order()
    pay_at_gateway(order, deliver=False)
    # A crash right after PENDING -> PAID: simulate by marking it paid without fulfilling.
    RenewalOrder.objects.filter(pk=order.pk).update(
        status=S.PAID, paid_at=timezone.now(), payment_intent_id="x"
    )
    reconcile_once(now=timezone.now() + LATER)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert len(topups()) == 1


@pytest.mark.django_db
def test_paid_checkout_whose_webhook_never_came_is_found_and_fulfilled(world):
    order = new_order()
    pay_at_gateway(order, deliver=False)
    reconcile_once(now=timezone.now() + LATER)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert order.payment_intent_id
    assert len(topups()) == 1


@pytest.mark.django_db
def test_unpaid_checkout_past_its_expiry_is_expired(world):
    order = new_order()
    summary = reconcile_once(now=timezone.now() + timedelta(days=2))
    order.refresh_from_db()
    assert order.status == S.EXPIRED
    assert summary.counts["expired"] == 1
    assert topups() == []


@pytest.mark.django_db
def test_recent_pending_order_is_left_alone(world):
    order = new_order()
    reconcile_once()
    order.refresh_from_db()
    assert order.status == S.PENDING


@pytest.mark.django_db
def test_refund_that_was_never_sent_is_sent_with_the_same_key(world):
    order = new_order()
    world.set_fault("travelroam", "rejected", path_contains=TOPUP_PATH)
    with override_settings(RENEWAL_AUTO_REFUND=False):
        pay_at_gateway(order, deliver=True)
    order.refresh_from_db()
    assert order.status == S.MANUAL_REVIEW
    # Staff asked for a refund but the process died before the gateway call.
    RenewalOrder.objects.filter(pk=order.pk).update(status=S.REFUND_PENDING)
    reconcile_once(now=timezone.now() + LATER)
    order.refresh_from_db()
    assert order.status == S.REFUNDED
    assert order.refund_id


@pytest.mark.django_db
def test_provider_failed_order_left_by_a_crash_is_refunded(world):
    order = new_order()
    pay_at_gateway(order, deliver=False)
    RenewalOrder.objects.filter(pk=order.pk).update(
        status=S.PROVIDER_FAILED, paid_at=timezone.now(), payment_intent_id=_paid_intent(order)
    )
    reconcile_once(now=timezone.now() + LATER)
    order.refresh_from_db()
    assert order.status == S.REFUNDED


def _paid_intent(order: RenewalOrder) -> str:
    return get_gateway().retrieve_checkout(order.checkout_session_id).payment_intent_id


@pytest.mark.django_db(transaction=True)
def test_two_reconcilers_at_once_top_up_once(world):
    skip_unless_shared_database()
    order = fulfilling_with_lost_answer(world, "connection_refused")
    now = timezone.now() + LATER

    results = run_together([lambda: reconcile_once(now=now) for _ in range(2)])

    assert not exceptions_in(results), results
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert len(topups()) == 1


@pytest.mark.django_db
def test_one_process_renewals_pass_settles_an_order_left_fulfilling(world):
    order = fulfilling_with_lost_answer(world, "timeout")
    RenewalOrder.objects.filter(pk=order.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("process_renewals", stdout=out)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert out.getvalue().startswith("process_renewals: leases reclaimed 1, completed 1,")


def test_backoff_is_exponential_and_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30).total_seconds() == 3600


@pytest.mark.django_db
def test_a_top_up_that_belongs_to_another_order_is_not_taken_for_ours(world):
    first = new_order()
    pay_at_gateway(first, deliver=True)
    first.refresh_from_db()
    assert first.status == S.COMPLETED
    second = fulfilling_with_lost_answer(world, "connection_refused")
    # The provider can only show "a top-up of this bundle on this eSIM since the payment": the only
    # one it has is the first order's, placed moments before.
    reconcile_once(now=timezone.now() + LATER)
    second.refresh_from_db()
    assert second.status == S.MANUAL_REVIEW
    assert first.order_id in second.audit.last().note
    assert len(topups()) == 1


@pytest.mark.django_db
def test_e_mails_the_listener_could_not_send_go_out_on_the_next_pass(world, mailoutbox):
    order = new_order()
    RenewalOrder.objects.filter(pk=order.pk).update(customer_email="traveller@example.com")
    # In a non-transactional test on_commit never fires: exactly the "after-commit send was lost" case.
    pay_at_gateway(order, deliver=True)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    summary = reconcile_once()
    assert summary.counts["emails_sent"] == 1
    assert [m.to for m in mailoutbox] == [["traveller@example.com"]]
