"""POST /api/esim/stripe/webhook/: signature on the raw body, events stored once and deduplicated,
not-ours and unknown types acknowledged, unexpected errors answered 500 so the gateway retries.

Each signature test runs with both gateways: the sandbox (our verifier) and Stripe (the SDK's)."""

from __future__ import annotations

import json
import time

import pytest

from pulse.models import OrderAuditEntry, OrderStatus, PaymentEvent
from pulse.payments import get_gateway
from pulse.payments.sandbox_gateway import SandboxGateway
from pulse.services.order_state import transition
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    SERVER_PRICE,
    api_fixture,
    charges,
    confirm,
    create_order,
    event_body,
    events,
    fake_stripe_server_fixture,
    order_of,
    post_webhook,
    renewal_env_fixture,
    sandbox_pay,
    sign,
    stripe_event_body,
    stripe_gateway_fixture,
    top_ups,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("renewal_env")]

S = OrderStatus
PAID = "checkout.session.completed"


@pytest.fixture(params=["sandbox", "stripe"])
def pay(request, api):
    """Per gateway: create an order and pay it at the gateway; (order_id, session_id, event body)."""

    def paid_order() -> tuple[str, str, bytes]:
        order_id, session_id = create_order(api)
        if request.param == "stripe":
            server = request.getfixturevalue("stripe_gateway")
            server.pay(session_id)
            return order_id, session_id, stripe_event_body(server, PAID, session_id)
        return order_id, session_id, sandbox_pay(session_id)

    if request.param == "stripe":
        request.getfixturevalue("stripe_gateway")
    return paid_order


def assert_nothing_happened(order_id: str) -> None:
    assert PaymentEvent.objects.count() == 0
    assert order_of(order_id).status == S.PENDING
    assert top_ups() == []


# --- signatures -------------------------------------------------------------------------------------


def test_a_correctly_signed_event_completes_the_order(api, pay):
    order_id, session_id, body = pay()

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    order = order_of(order_id)
    assert order.status == S.COMPLETED
    assert len(top_ups()) == 1
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    event = PaymentEvent.objects.get()
    assert (event.event_id, event.type, event.result, event.deliveries, event.order) == (
        json.loads(body)["id"],
        PAID,
        "processed",
        1,
        order,
    )
    assert event.payload == json.loads(body)
    assert event.processed_at is not None


NO_MATCH = {
    "sandbox": "No signature matches the body (wrong secret or tampered body).",
    "stripe": "Stripe signature check failed: No signatures found matching the expected signature for payload",
}
STALE = int(time.time()) - 301  # Stripe's tolerance is 300 s
BAD_SIGNATURES = {
    # case: (how to sign the body, the details per gateway)
    "wrong_secret": (lambda body: sign(body, secret="whsec_fake_other_endpoint"), NO_MATCH),
    "signed_for_another_body": (lambda body: sign(body.replace(b'"paid"', b'"unpaid"')), NO_MATCH),
    "missing": (
        lambda body: None,
        {"sandbox": "No signature header was sent.", "stripe": "The Stripe-Signature header is missing."},
    ),
    "stale": (
        lambda body: sign(body, timestamp=STALE),
        {
            "sandbox": "The signature timestamp is outside the 300 s tolerance.",
            "stripe": f"Stripe signature check failed: Timestamp outside the tolerance zone ({STALE})",
        },
    ),
    "malformed": (
        lambda body: "t=abc,v1=",
        {
            "sandbox": "The signature header has no single valid timestamp.",
            "stripe": "Stripe signature check failed: Unable to extract timestamp and signatures from header",
        },
    ),
}


@pytest.mark.parametrize("case", list(BAD_SIGNATURES))
def test_a_bad_signature_is_a_403_and_nothing_is_stored(api, pay, case):
    order_id, _session_id, body = pay()
    make_signature, details = BAD_SIGNATURES[case]

    response = post_webhook(api, body, make_signature(body))

    assert response.status_code == 403
    assert response.json() == {
        "error": "Webhook signature verification failed.",
        "code": "invalid_signature",
        "details": details[get_gateway().name],
    }
    assert_nothing_happened(order_id)


def test_a_tampered_body_with_the_original_signature_is_refused(api, pay):
    order_id, _session_id, body = pay()
    signature = sign(body)

    response = post_webhook(
        api, body.replace(b"checkout.session.completed", b"checkout.session.expired"), signature
    )

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_signature"
    assert_nothing_happened(order_id)


# --- deduplication ----------------------------------------------------------------------------------


def test_a_duplicate_delivery_is_processed_once(api, pay):
    order_id, _session_id, body = pay()
    event_id = json.loads(body)["id"]

    first = post_webhook(api, body, sign(body))
    second = post_webhook(api, body, sign(body))  # Stripe re-signs every delivery

    assert (first.status_code, first.json()) == (200, {"result": "processed"})
    assert (second.status_code, second.json()) == (200, {"result": "duplicate"})
    assert events() == [(event_id, PAID, "processed", 2)]
    assert order_of(order_id).status == S.COMPLETED
    assert len(top_ups()) == 1
    assert OrderAuditEntry.objects.filter(order__order_id=order_id, to_status=S.COMPLETED).count() == 1


# --- events that are not for us ---------------------------------------------------------------------


def test_an_unknown_event_type_is_acknowledged_and_ignored(api):
    body = event_body("customer.created", {"id": "cus_test_1", "object": "customer", "metadata": {}})

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "ignored"})
    assert events() == [("evt_test_1", "customer.created", "ignored", 1)]
    assert PaymentEvent.objects.get().order is None


def test_a_checkout_that_is_not_ours_is_acknowledged_and_ignored(api):
    order_id, _session_id = create_order(api)  # ours exists, but the event is about another session
    session = {
        "id": "cs_test_dashboard",
        "object": "checkout.session",
        "client_reference_id": None,
        "metadata": {},
        "payment_status": "paid",
        "status": "complete",
    }
    body = event_body(PAID, session)

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "ignored"})
    assert events() == [("evt_test_1", PAID, "ignored", 1)]
    assert order_of(order_id).status == S.PENDING
    assert top_ups() == []


def test_a_refund_that_is_not_ours_is_acknowledged_and_ignored(api):
    refund = {"id": "re_test_other", "object": "refund", "payment_intent": "pi_test_other", "metadata": {}}
    body = event_body("charge.refund.updated", refund)

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "ignored"})
    assert events() == [("evt_test_1", "charge.refund.updated", "ignored", 1)]


# --- errors -----------------------------------------------------------------------------------------


def test_an_unexpected_error_is_a_500_the_event_keeps_it_and_a_redelivery_processes_it(api, monkeypatch):
    order_id, session_id = create_order(api)
    body = sandbox_pay(session_id)
    original = SandboxGateway.retrieve_checkout

    def broken(self, session_id):
        raise RuntimeError("connection pool exhausted")

    monkeypatch.setattr(SandboxGateway, "retrieve_checkout", broken)

    failed = post_webhook(api, body, sign(body))

    assert failed.status_code == 500
    assert failed.json() == {
        "error": "Internal server error.",
        "code": "internal_error",
        "details": (
            f"An unexpected error occurred. Quote request id {failed['X-Request-ID']} when reporting it."
        ),
    }
    event = PaymentEvent.objects.get()
    assert (event.result, event.deliveries, event.processed_at) == ("failed", 1, None)
    assert "RuntimeError: connection pool exhausted" in event.error
    assert order_of(order_id).status == S.PENDING
    assert top_ups() == []

    monkeypatch.setattr(SandboxGateway, "retrieve_checkout", original)  # the fault is fixed
    retried = post_webhook(api, body, sign(body))

    assert (retried.status_code, retried.json()) == (200, {"result": "processed"})
    event.refresh_from_db()
    assert (event.result, event.deliveries, event.error) == ("processed", 2, "")
    assert order_of(order_id).status == S.COMPLETED
    assert len(top_ups()) == 1


# --- events out of order ----------------------------------------------------------------------------


def test_an_expiry_event_after_payment_is_ignored(api):
    order_id, session_id = create_order(api)
    paid = sandbox_pay(session_id)
    post_webhook(api, paid, sign(paid))
    # A late (or forged but correctly signed) expiry: the handler asks the gateway, which says paid.
    session = {**json.loads(paid)["data"]["object"], "status": "expired", "payment_status": "unpaid"}
    expired = event_body("checkout.session.expired", session, event_id="evt_test_expired")

    response = post_webhook(api, expired, sign(expired))

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    order = order_of(order_id)
    assert order.status == S.COMPLETED
    assert not OrderAuditEntry.objects.filter(order=order, to_status=S.EXPIRED).exists()
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    assert len(top_ups()) == 1


def test_a_payment_after_the_order_expired_is_fulfilled(api):
    order_id, session_id = create_order(api)
    # We gave up on the checkout (e.g. the expiry sweep) while the customer was paying.
    assert transition(order_of(order_id), S.PENDING, S.EXPIRED, by="test")
    body = sandbox_pay(session_id)

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    order = order_of(order_id)
    assert order.status == S.COMPLETED
    assert list(
        OrderAuditEntry.objects.filter(order=order)
        .exclude(action="created")
        .values_list("from_status", "to_status")
    ) == [(S.PENDING, S.EXPIRED), (S.EXPIRED, S.PAID), (S.PAID, S.FULFILLING), (S.FULFILLING, S.COMPLETED)]
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    assert len(top_ups()) == 1
    assert confirm(api, session_id).json()["order"]["status"] == "COMPLETED"


# --- the gateway's state decides, never the event's name ------------------------------------------


def open_session_object(session_id: str, server=None) -> dict:
    """The checkout session as the gateway shows it now (open, unpaid)."""
    if server is not None:
        return json.loads(json.dumps(server.state.sessions[session_id]))
    return dict(get_gateway().retrieve_checkout(session_id).raw)


@pytest.mark.parametrize("gateway", ["sandbox", "stripe"])
def test_a_signed_payment_failed_event_for_an_open_checkout_leaves_the_order_pending(api, request, gateway):
    server = request.getfixturevalue("stripe_gateway") if gateway == "stripe" else None
    order_id, session_id = create_order(api)
    # Correctly signed, but the gateway says the session is still open: the customer can still pay.
    body = event_body("checkout.session.async_payment_failed", open_session_object(session_id, server))

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    order = order_of(order_id)
    assert order.status == S.PENDING
    assert charges(order) == [("CHARGE", "PENDING", SERVER_PRICE, session_id)]
    assert not OrderAuditEntry.objects.filter(order=order, to_status=S.FAILED).exists()
    assert top_ups() == []


def test_a_payment_failed_event_while_the_delayed_payment_is_processing_leaves_the_order_pending(
    api, stripe_gateway
):
    order_id, session_id = create_order(api)
    stripe_gateway.async_pending(session_id)  # complete + unpaid; the PaymentIntent is processing
    session = stripe_gateway.state.sessions[session_id]
    body = event_body("checkout.session.async_payment_failed", json.loads(json.dumps(session)))

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    assert order_of(order_id).status == S.PENDING
    assert confirm(api, session_id).status_code == 202  # still settling
