"""No paid order sits in FULFILLING for ever, and one bad order never stops a reconciler pass
(issue 11, item 9). The providers are the in-process simulators with fault injection."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from pulse.models import OrderStatus, RenewalOrder
from pulse.payments import get_gateway
from pulse.services import fulfilment, reconciler, staff_actions
from pulse.services.reconciler import reconcile_once
from pulse.services.renewals import renewal_order_create
from pulse.services.webhooks import payment_webhook_receive
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    renewal_env_fixture,
    world_fixture,
)

pytestmark = [pytest.mark.django_db]

S = OrderStatus
AIRHUB_ESIM = "8944000000000000100"  # AirHub, Spain 3GB 15 Days
TRAVELROAM_ESIMS = ("8932042000010245583", "8944000000000000308")
TOP_UP_PATHS = {"airhub": "InsertRenew", "travelroam": "processorders"}
LOOKUP_PATHS = {"airhub": "GetRenewData", "travelroam": "applied/bundles"}


def paid(iccid: str) -> RenewalOrder:
    """Create the order and pay it; the webhook claims it and places the top-up."""
    order = renewal_order_create(iccid=iccid, currency="USD").order
    _state, body, signature = get_gateway().sandbox_complete(order.checkout_session_id, "paid")
    assert payment_webhook_receive(body=body, signature=signature) == "processed"
    order.refresh_from_db()
    return order


def top_up_timed_out(world, iccid: str) -> RenewalOrder:
    """The provider carried the top-up out, but its answer came after our read timeout."""
    provider = "airhub" if iccid == AIRHUB_ESIM else "travelroam"
    world.set_fault(provider, "timeout", path_contains=TOP_UP_PATHS[provider], times=1, delay_s=1.0)
    with override_settings(PROVIDER_TIMEOUT=0.2):
        order = paid(iccid)
    assert (order.status, order.attempts) == (S.FULFILLING, 1)
    assert "outcome unknown (timeout)" in order.last_error
    return order


class Faulty:
    """A provider client whose next `method` call raises `error`; every other call goes through."""

    def __init__(self, client, method: str, error: Exception) -> None:
        self._client, self._method, self._error = client, method, error

    def __getattr__(self, name):
        if name == self._method and self._error is not None:
            error, self._error = self._error, None

            def fail(*args, **kwargs):
                raise error

            return fail
        return getattr(self._client, name)


def break_next_call(monkeypatch, module, method: str, error: Exception) -> None:
    real = module.provider_client
    faulty = {}

    def provider_client(name):
        if name not in faulty:
            faulty[name] = Faulty(real(name), method, error)
        return faulty[name]

    monkeypatch.setattr(module, "provider_client", provider_client)


# --- the soak case: AirHub top-ups that timed out, and a renewal history that cannot tell ----------


@pytest.mark.parametrize("lookup_fault", ["http_404", "http_500", "malformed_json", "timeout"])
def test_a_timed_out_top_up_the_provider_cannot_confirm_goes_to_manual_review_after_the_budget(
    world, lookup_fault
):
    order = top_up_timed_out(world, AIRHUB_ESIM)
    assert len(world.topups("airhub")) == 1  # it did happen; we cannot know
    world.set_fault("airhub", lookup_fault, path_contains=LOOKUP_PATHS["airhub"], delay_s=1.0)
    started = timezone.now()

    with override_settings(PROVIDER_TIMEOUT=0.2, PROVIDER_BREAKER_THRESHOLD=10_000):
        for minutes in (6, 8, 10, 12, 14):  # reconciler passes inside the 15-minute budget
            summary = reconcile_once(now=started + timedelta(minutes=minutes))
            order.refresh_from_db()
            assert (order.status, summary.counts["leases_reclaimed"]) == (S.FULFILLING, 1)
        summary = reconcile_once(now=started + timedelta(minutes=16))

    order.refresh_from_db()
    assert order.status == S.MANUAL_REVIEW
    assert summary.counts["manual_review"] == 1
    assert order.attempts == 1  # never a blind second top-up
    assert len(world.topups("airhub")) == 1
    review = order.audit.filter(to_status=S.MANUAL_REVIEW).get()
    assert review.source == "reconciler"
    assert review.note.startswith("top-up outcome still unknown for 15 minutes; the provider cannot tell")
    assert "GetRenewData" in review.note
    assert order.last_error == review.note
    assert order.lease_until is None
    # Staff see it in the admin's "needs attention".
    assert list(RenewalOrder.objects.filter(staff_actions.needs_attention_q("manual_review"))) == [order]
    assert staff_actions.attention_counts()["all"] == 1


def one_pass_later(world, lookup_fault: str, minutes: int) -> RenewalOrder:
    """A timed-out AirHub top-up whose renewal history keeps failing, after one reconciler pass."""
    order = top_up_timed_out(world, AIRHUB_ESIM)
    world.set_fault("airhub", lookup_fault, path_contains=LOOKUP_PATHS["airhub"])
    reconcile_once(now=timezone.now() + timedelta(minutes=minutes))
    order.refresh_from_db()
    return order


def test_a_404_from_the_renewal_history_says_why_in_the_review_note(world):
    order = one_pass_later(world, "http_404", minutes=20)

    assert order.status == S.MANUAL_REVIEW
    assert "GetRenewData answered 404: the renewal history cannot tell" in order.last_error


@override_settings(RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES=60)
def test_the_budget_is_a_setting(world):
    order = top_up_timed_out(world, AIRHUB_ESIM)
    world.set_fault("airhub", "http_500", path_contains=LOOKUP_PATHS["airhub"])
    started = timezone.now()

    reconcile_once(now=started + timedelta(minutes=30))
    order.refresh_from_db()
    assert order.status == S.FULFILLING
    assert order.lease_until <= started + timedelta(minutes=60)  # the next look is never past the budget

    reconcile_once(now=started + timedelta(minutes=61))
    order.refresh_from_db()
    assert order.status == S.MANUAL_REVIEW


@override_settings(RENEWAL_MAX_ATTEMPTS=1)
def test_with_its_attempts_used_up_an_unknown_outcome_goes_to_staff_at_once(world):
    order = one_pass_later(world, "http_500", minutes=6)

    assert order.status == S.MANUAL_REVIEW
    assert order.last_error.startswith("top-up outcome still unknown after 1 attempts")
    assert len(world.topups("airhub")) == 1


def test_a_provider_that_answers_in_time_still_settles_the_order_before_the_budget(world):
    order = top_up_timed_out(world, AIRHUB_ESIM)
    world.set_fault("airhub", "http_500", path_contains=LOOKUP_PATHS["airhub"], times=2)
    started = timezone.now()

    for minutes in (6, 8, 10):
        reconcile_once(now=started + timedelta(minutes=minutes))

    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert order.provider_reference == world.topups("airhub")[0]["reference"]
    assert len(world.topups("airhub")) == 1


# --- an unexpected exception while placing the top-up ---------------------------------------------


def test_an_unexpected_error_while_placing_the_top_up_is_an_unknown_outcome(world, monkeypatch):
    break_next_call(monkeypatch, fulfilment, "top_up", RuntimeError("pool exhausted"))

    order = paid(TRAVELROAM_ESIMS[0])  # the webhook is answered: no 500, no retry storm

    assert order.status == S.FULFILLING  # never PROVIDER_FAILED: no blind refund
    assert order.last_error == "outcome unknown (RuntimeError): pool exhausted"
    assert not order.audit.filter(to_status=S.PROVIDER_FAILED).exists()
    assert order.refund_id == ""
    monkeypatch.undo()

    # The reconciler asks first; the provider shows no top-up, so placing it is safe.
    reconcile_once(now=timezone.now() + timedelta(minutes=6))

    order.refresh_from_db()
    assert (order.status, order.attempts) == (S.COMPLETED, 2)
    assert len(world.topups("travelroam")) == 1


# --- one bad order never stops the batch -------------------------------------------------------------


def test_a_value_error_from_one_orders_lookup_does_not_stop_the_next_order(world, monkeypatch):
    orders = [top_up_timed_out(world, iccid) for iccid in TRAVELROAM_ESIMS]
    break_next_call(monkeypatch, reconciler, "find_top_up", ValueError("unreadable assignment date"))

    summary = reconcile_once(now=timezone.now() + timedelta(minutes=6))

    for order in orders:
        order.refresh_from_db()
    statuses = sorted(order.status for order in orders)
    assert statuses == [S.COMPLETED, S.FULFILLING]
    stuck = next(order for order in orders if order.status == S.FULFILLING)
    assert stuck.last_error == "reconcile: ValueError: unreadable assignment date"
    assert (summary.counts["leases_reclaimed"], summary.counts["completed"]) == (2, 1)
    assert len(world.topups("travelroam")) == 2  # one per order, none twice


def test_any_exception_in_one_order_is_logged_with_its_id_and_the_pass_goes_on(world, monkeypatch, caplog):
    first, second = (renewal_order_create(iccid=iccid, currency="USD").order for iccid in TRAVELROAM_ESIMS)
    # Both paid, neither claimed (a crash between PAID and FULFILLING).
    RenewalOrder.objects.filter(pk__in=[first.pk, second.pk]).update(status=S.PAID, paid_at=timezone.now())
    real_fulfil, failed = reconciler.fulfil, []

    def fulfil(order, *, by):
        if not failed:
            failed.append(order.order_id)
            raise KeyError("bundle")
        return real_fulfil(order, by=by)

    monkeypatch.setattr(reconciler, "fulfil", fulfil)

    with caplog.at_level(logging.ERROR, logger="pulse.services.reconciler"):
        summary = reconcile_once(now=timezone.now() + timedelta(minutes=5))

    assert (summary.counts["errors"], summary.counts["paid_resumed"]) == (1, 1)
    (record,) = [r for r in caplog.records if r.name == "pulse.services.reconciler"]
    assert failed[0] in record.getMessage()
    assert "KeyError" in record.exc_text
    statuses = dict(RenewalOrder.objects.values_list("order_id", "status"))
    assert statuses.pop(failed[0]) == S.PAID  # tried again on the next pass
    assert list(statuses.values()) == [S.COMPLETED]
