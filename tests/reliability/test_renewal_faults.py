"""Renewal under faults: the customer has paid, then something breaks (docs/reliability.md, "Renewals").

Stripe is the fake Stripe server over real HTTP (PAYMENT_GATEWAY=stripe); the providers are the
in-process simulators (HTTP would add nothing to these scenarios). Every scenario that takes money
ends with the invariant, after at most one reconciler pass: each paid order is COMPLETED, REFUNDED or
MANUAL_REVIEW, and has at most one provider top-up.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIClient

from providers.sandbox import reset_default_world
from pulse.models import OrderStatus, PaymentTransaction, RenewalOrder
from pulse.services import fulfilment
from pulse.services.reconciler import reconcile_once, stuck_after
from tests.fakes.stripe import sign_payload, start_fake_stripe
from tests.reliability.helpers import OWNED_BY, SEED_ICCID, assert_paid_orders_settled

pytestmark = pytest.mark.django_db

S = OrderStatus
WEBHOOK_SECRET = "whsec_test_fake"
TOP_UP_PATH = "processorders"  # TravelRoam's order endpoint; the seed eSIM is TravelRoam's
SERVER_PRICE_MINOR = 160  # 1.23 USD cost + 30 % markup, rounded half up (docs/payments.md)


class WorkerDied(BaseException):
    """The process vanished mid-request: nothing after this point runs, no handler catches it."""


@pytest.fixture(scope="module")
def fake_stripe():
    server = start_fake_stripe()
    yield server
    server.stop()


@pytest.fixture
def world(settings, fake_stripe):
    fake_stripe.reset()
    fake_stripe.configure_webhook(None, None)  # webhooks are delivered by the tests, when they say so
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = fake_stripe.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT = 5.0
    settings.RENEWAL_AUTO_REFUND = True
    settings.FRONTEND_URL = "https://renew.example.test"
    world = reset_default_world()
    yield world
    reset_default_world()


@pytest.fixture
def api() -> APIClient:
    return APIClient()


# --- the customer's steps ----------------------------------------------------------------------------


def create(api: APIClient):
    return api.post("/api/esim/renewal/create/", {"iccid": SEED_ICCID, "currency": "USD"}, format="json")


def create_and_pay(api: APIClient, fake_stripe) -> tuple[str, str]:
    """A created order whose checkout the customer has paid at Stripe; no webhook delivered yet."""
    response = create(api)
    assert response.status_code == 201, response.json()
    body = response.json()
    session_id = body["payment"]["session_id"]
    fake_stripe.pay(session_id)
    return body["order"]["order_id"], session_id


def confirm(api: APIClient, session_id: str):
    return api.post("/api/esim/renewal/confirm-payment/", {"session_id": session_id}, format="json")


def deliver_webhook(api: APIClient, fake_stripe, session_id: str):
    """Deliver the fake's `checkout.session.completed` for this session, signed like Stripe."""
    event = next(
        e
        for e in reversed(fake_stripe.state.events)
        if e["type"] == "checkout.session.completed" and e["data"]["object"]["id"] == session_id
    )
    payload = json.dumps(event)
    return api.generic(
        "POST",
        "/api/esim/stripe/webhook/",
        payload.encode(),
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=sign_payload(payload, WEBHOOK_SECRET),
    )


def order(order_id: str) -> RenewalOrder:
    return RenewalOrder.objects.get(order_id=order_id)


def stripe_refunds(fake_stripe) -> list[tuple[int, str]]:
    return [(r["amount"], r["status"]) for r in fake_stripe.state.refunds.values()]


def after_the_lease() -> datetime:
    """A moment when every lease taken now has run out and every stuck order counts as abandoned."""
    return timezone.now() + timedelta(seconds=django_settings.FULFILMENT_LEASE_SECONDS + 1) + stuck_after()


# --- provider faults after the charge ------------------------------------------------------------------


def test_provider_timeout_after_charging_is_completed_once_by_the_reconciler(
    api, world, fake_stripe, settings
):
    settings.PROVIDER_TIMEOUT = 0.3
    order_id, session_id = create_and_pay(api, fake_stripe)
    # The provider carries the top-up out, but its answer comes after our read timeout.
    world.set_fault("travelroam", "timeout", path_contains=TOP_UP_PATH, times=1, delay_s=2.0)

    first = confirm(api, session_id)
    assert first.status_code == 200
    assert first.json()["order"]["status"] == S.FULFILLING
    assert first.json()["message"] == "Payment received; your top-up is being placed."
    assert len(world.topups()) == 1  # it did happen; we just do not know yet
    # A retrying customer and Stripe's webhook change nothing while the lease is held.
    assert confirm(api, session_id).json()["order"]["status"] == S.FULFILLING
    assert deliver_webhook(api, fake_stripe, session_id).status_code == 200
    reconcile_once()  # the lease is still valid: nobody steps in
    assert (order(order_id).status, len(world.topups())) == (S.FULFILLING, 1)

    summary = reconcile_once(now=after_the_lease())

    assert summary.counts["completed"] == 1
    assert order(order_id).status == S.COMPLETED
    assert order(order_id).provider_reference == world.topups()[0]["reference"]
    assert_paid_orders_settled(world)


def test_a_timed_out_top_up_the_provider_cannot_confirm_goes_to_staff_after_the_budget(
    api, world, fake_stripe, settings
):
    # The soak case: AirHub's answer to InsertRenew is lost, and GetRenewData answers 404.
    settings.PROVIDER_TIMEOUT = 0.3
    created = api.post(
        "/api/esim/renewal/create/", {"iccid": OWNED_BY["airhub"], "currency": "USD"}, format="json"
    )
    assert created.status_code == 201, created.json()
    order_id, session_id = created.json()["order"]["order_id"], created.json()["payment"]["session_id"]
    fake_stripe.pay(session_id)
    world.set_fault("airhub", "timeout", path_contains="InsertRenew", times=1, delay_s=2.0)
    world.set_fault("airhub", "http_404", path_contains="GetRenewData")

    assert confirm(api, session_id).json()["order"]["status"] == S.FULFILLING
    reconcile_once(now=after_the_lease())  # inside the budget: asks, cannot tell, waits
    assert (order(order_id).status, len(world.topups())) == (S.FULFILLING, 1)

    budget = timedelta(minutes=django_settings.RENEWAL_UNKNOWN_OUTCOME_BUDGET_MINUTES)
    reconcile_once(now=timezone.now() + budget + timedelta(seconds=1))

    assert order(order_id).status == S.MANUAL_REVIEW
    assert (
        confirm(api, session_id).json()["message"] == "Payment received; our team is completing your renewal."
    )
    assert len(world.topups()) == 1  # never ordered a second time
    assert stripe_refunds(fake_stripe) == []  # nor refunded blindly
    assert_paid_orders_settled(world)


def test_definite_provider_failure_refunds_the_customer(api, world, fake_stripe):
    order_id, session_id = create_and_pay(api, fake_stripe)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)

    response = confirm(api, session_id)

    assert response.status_code == 200
    assert response.json()["order"]["status"] == S.REFUNDED
    assert order(order_id).refunded_at is not None
    assert response.json()["message"] == (
        "The provider could not top up your eSIM; your payment has been refunded."
    )
    assert stripe_refunds(fake_stripe) == [(SERVER_PRICE_MINOR, "succeeded")]
    assert world.topups() == []
    assert_paid_orders_settled(world)


@pytest.mark.parametrize(
    ("refund_fault", "expected_refunds"),
    [
        ("fails_at_the_bank", [(SERVER_PRICE_MINOR, "failed")]),  # accepted, then failed (card closed)
        ("refused_by_stripe", []),  # Stripe answers 400 to the refund request
    ],
)
def test_a_refund_that_fails_goes_to_manual_review(api, world, fake_stripe, refund_fault, expected_refunds):
    order_id, session_id = create_and_pay(api, fake_stripe)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)
    if refund_fault == "fails_at_the_bank":
        fake_stripe.set_refund_mode("failed")
    else:
        fake_stripe.fail_next("/v1/refunds", status=400)

    response = confirm(api, session_id)
    reconcile_once(now=after_the_lease())  # nothing left for it to do: staff decide now

    assert response.status_code == 200
    assert response.json()["order"]["status"] == S.MANUAL_REVIEW
    assert response.json()["message"] == "Payment received; our team is completing your renewal."
    assert order(order_id).status == S.MANUAL_REVIEW
    assert stripe_refunds(fake_stripe) == expected_refunds
    assert world.topups() == []
    assert_paid_orders_settled(world)


def test_stripe_unreachable_at_refund_time_is_refunded_by_the_next_reconciler_pass(api, world, fake_stripe):
    order_id, session_id = create_and_pay(api, fake_stripe)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)
    fake_stripe.fail_next("/v1/refunds", status=0)  # the connection drops: nothing was refunded

    assert confirm(api, session_id).json()["order"]["status"] == S.REFUND_PENDING
    assert stripe_refunds(fake_stripe) == []
    reconcile_once(now=after_the_lease())

    assert order(order_id).status == S.REFUNDED
    assert stripe_refunds(fake_stripe) == [(SERVER_PRICE_MINOR, "succeeded")]
    assert_paid_orders_settled(world)


# --- Stripe down while the order is created ------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("stripe_fault", ["connection_refused", "connection_dropped", "http_503"])
def test_stripe_unreachable_during_create_is_a_clear_503_and_leaves_no_dangling_order(
    api, world, fake_stripe, settings, stripe_fault
):
    if stripe_fault == "connection_refused":
        settings.STRIPE_API_BASE = f"http://127.0.0.1:{closed_port()}"
    else:
        fake_stripe.fail_next(
            "/v1/checkout/sessions", status=0 if stripe_fault == "connection_dropped" else 503
        )

    response = create(api)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "error": "The payment service is unavailable right now.",
        "code": "payment_gateway_unavailable",
        "details": "The payment service did not answer; nothing was charged.",
    }
    (cancelled,) = RenewalOrder.objects.all()
    assert (cancelled.status, cancelled.checkout_session_id) == (S.CANCELLED, None)
    assert not PaymentTransaction.objects.exists()
    # Stripe is back: the next create opens a fresh checkout; the cancelled order stays cancelled.
    settings.STRIPE_API_BASE = fake_stripe.base_url
    retry = create(api)
    assert retry.status_code == 201
    assert retry.json()["order"]["order_id"] != cancelled.order_id
    reconcile_once(now=after_the_lease())
    assert order(cancelled.order_id).status == S.CANCELLED


# --- the catalogue cannot be loaded ---------------------------------------------------------------------


def test_a_catalogue_never_loaded_because_the_provider_is_down_is_503_not_no_bundles(api, world):
    world.set_fault("travelroam", "http_500", path_contains="catalogue")  # a fresh install, provider down
    options = api.get("/api/esim/renewal/options/", {"iccid": SEED_ICCID, "currency": "USD"})
    created = create(api)

    for response in (options, created):
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
        assert response.json()["code"] == "providers_unavailable"
    assert not RenewalOrder.objects.exists()
    world.clear_faults()  # the provider is back: the next request loads the catalogue
    again = api.get("/api/esim/renewal/options/", {"iccid": SEED_ICCID, "currency": "USD"})
    assert again.status_code == 200
    assert again.json()["same_plan_bundle"] == "esim_1GB_7D_TR_V2"


# --- a worker dies mid-fulfilment ----------------------------------------------------------------------


def test_a_crash_between_paid_and_fulfilling_is_recovered_by_the_reconciler(
    api, world, fake_stripe, monkeypatch
):
    order_id, session_id = create_and_pay(api, fake_stripe)

    def die(*args, **kwargs):
        raise WorkerDied

    monkeypatch.setattr(fulfilment, "fulfil", die)
    with pytest.raises(WorkerDied):
        confirm(api, session_id)
    monkeypatch.undo()
    assert order(order_id).status == S.PAID  # paid, never claimed

    summary = reconcile_once(now=after_the_lease())

    assert summary.counts["paid_resumed"] == 1
    assert order(order_id).status == S.COMPLETED
    assert len(world.topups()) == 1
    assert_paid_orders_settled(world)


def test_a_crash_after_claiming_waits_for_the_lease_then_places_the_top_up_once(
    api, world, fake_stripe, monkeypatch
):
    order_id, session_id = create_and_pay(api, fake_stripe)

    def die(*args, **kwargs):
        raise WorkerDied

    monkeypatch.setattr(fulfilment, "place_top_up", die)
    with pytest.raises(WorkerDied):
        deliver_webhook(api, fake_stripe, session_id)
    monkeypatch.undo()
    assert order(order_id).status == S.FULFILLING  # claimed with a lease, nothing sent
    reconcile_once()  # the lease has not run out: the worker might still be alive
    assert (order(order_id).status, world.topups()) == (S.FULFILLING, [])

    summary = reconcile_once(now=after_the_lease())

    assert summary.counts["leases_reclaimed"] == 1
    assert order(order_id).status == S.COMPLETED
    assert len(world.topups()) == 1
    assert_paid_orders_settled(world)


def test_a_crash_after_the_provider_accepted_never_tops_up_twice(api, world, fake_stripe, monkeypatch):
    order_id, session_id = create_and_pay(api, fake_stripe)

    def die(*args, **kwargs):
        raise WorkerDied

    monkeypatch.setattr(fulfilment, "complete", die)  # the top-up went out; recording it did not
    with pytest.raises(WorkerDied):
        confirm(api, session_id)
    monkeypatch.undo()
    assert (order(order_id).status, len(world.topups())) == (S.FULFILLING, 1)
    assert confirm(api, session_id).json()["order"]["status"] == S.FULFILLING  # no second attempt

    summary = reconcile_once(now=after_the_lease())

    assert (summary.counts["completed"], summary.counts["retried"]) == (1, 0)
    assert order(order_id).status == S.COMPLETED
    assert len(world.topups()) == 1
    assert_paid_orders_settled(world)
