"""The Stripe gateway end to end: the official SDK talks to the in-repo fake Stripe server through
STRIPE_API_BASE, and the fake delivers signed webhooks over HTTP to a live Django server, as Stripe would.
Nobody calls confirm here: the webhooks alone must complete (or refund) the order."""

from __future__ import annotations

import pytest

from pulse.models import OrderStatus, PaymentEvent
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    SEED_BUNDLE,
    SEED_ICCID,
    SERVER_PRICE,
    SERVER_PRICE_MINOR,
    TOP_UP_PATH,
    WEBHOOK,
    WEBHOOK_SECRET,
    api_fixture,
    charges,
    confirm,
    create_order,
    fake_stripe_server_fixture,
    order_of,
    refund_rows,
    renewal_env_fixture,
    stripe_gateway_fixture,
    top_ups,
    world_fixture,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("renewal_env")]

S = OrderStatus


@pytest.fixture
def stripe(stripe_gateway, live_server):
    """The fake Stripe, delivering its events to our webhook on the live server."""
    stripe_gateway.configure_webhook(f"{live_server.url}{WEBHOOK}", WEBHOOK_SECRET)
    return stripe_gateway


def deliveries(server) -> list[tuple[str, int | None]]:
    return [(d["type"], d["status"]) for d in server.state.deliveries]


def refund_requests(server) -> list[dict]:
    return [r for r in server.state.requests if r["method"] == "POST" and r["path"] == "/v1/refunds"]


def test_a_paid_checkout_is_completed_by_the_signed_webhook(api, stripe):
    order_id, session_id = create_order(api)

    result = stripe.pay(session_id)

    assert [d["status"] for d in result["deliveries"]] == [200]
    order = order_of(order_id)
    assert order.status == S.COMPLETED
    [top_up] = top_ups()
    assert (top_up["iccid"], top_up["item"], order.provider_reference) == (
        SEED_ICCID,
        SEED_BUNDLE,
        top_up["reference"],
    )
    session = stripe.state.sessions[session_id]
    assert order.payment_intent_id == session["payment_intent"]
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    event = PaymentEvent.objects.get()
    assert (event.gateway, event.type, event.result, event.order) == (
        "stripe",
        "checkout.session.completed",
        "processed",
        order,
    )
    # The success page's confirm afterwards changes nothing.
    response = confirm(api, session_id)
    assert (response.status_code, response.json()["order"]["status"]) == (200, "COMPLETED")
    assert len(top_ups()) == 1


def test_a_resent_event_is_acknowledged_without_a_second_top_up(api, stripe):
    order_id, session_id = create_order(api)
    [event] = stripe.pay(session_id)["events"]

    stripe.resend_event(event["id"])

    assert deliveries(stripe) == [("checkout.session.completed", 200)] * 2
    assert order_of(order_id).status == S.COMPLETED
    assert len(top_ups()) == 1
    assert PaymentEvent.objects.get().deliveries == 2


def test_a_refused_top_up_ends_in_exactly_one_refund(api, stripe, world):
    order_id, session_id = create_order(api)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)

    stripe.pay(session_id)
    assert stripe.wait_for_webhooks()  # the refund's own events (refund.created) arrive in the background

    order = order_of(order_id)
    assert order.status == S.REFUNDED
    [request] = refund_requests(stripe)
    payment_intent = stripe.state.sessions[session_id]["payment_intent"]
    assert request["idempotency_key"] == f"refund:{order_id}"
    assert request["params"] == {
        "payment_intent": payment_intent,
        "amount": str(SERVER_PRICE_MINOR),
        "metadata": {"order_id": order_id},
    }
    [refund] = stripe.state.refunds.values()
    assert (refund["id"], refund["status"], refund["amount"]) == (
        order.refund_id,
        "succeeded",
        SERVER_PRICE_MINOR,
    )
    assert refund_rows(order) == [("REFUND", "REFUNDED", SERVER_PRICE, refund["id"])]
    assert top_ups() == []
    assert ("refund.created", 200) in deliveries(stripe)
    assert order_of(order_id).status == S.REFUNDED


def test_a_pending_refund_is_settled_by_the_refund_webhook(api, stripe, world):
    order_id, session_id = create_order(api)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)
    stripe.set_refund_mode("pending")

    stripe.pay(session_id)
    assert stripe.wait_for_webhooks()
    order = order_of(order_id)
    assert order.status == S.REFUND_PENDING
    assert refund_rows(order) == [("REFUND", "PENDING", SERVER_PRICE, order.refund_id)]

    result = stripe.settle_refund(order.refund_id, "succeeded")

    assert [d["status"] for d in result["deliveries"]] == [200]
    order = order_of(order_id)
    assert order.status == S.REFUNDED
    assert refund_rows(order) == [("REFUND", "REFUNDED", SERVER_PRICE, order.refund_id)]
    assert len(refund_requests(stripe)) == 1


def test_a_refund_that_fails_at_stripe_goes_to_manual_review(api, stripe, world):
    order_id, session_id = create_order(api)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)
    stripe.set_refund_mode("failed")

    stripe.pay(session_id)
    assert stripe.wait_for_webhooks()

    order = order_of(order_id)
    assert order.status == S.MANUAL_REVIEW
    assert refund_rows(order) == [("REFUND", "FAILED", SERVER_PRICE, order.refund_id)]
    assert len(refund_requests(stripe)) == 1
