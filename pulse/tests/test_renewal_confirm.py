"""POST /api/esim/renewal/confirm-payment/ and GET renewal/order/<id>/: the gateway (never the caller)
decides, a paid order is fulfilled exactly once, and confirm is safe to repeat."""

from __future__ import annotations

import pytest

from pulse.models import OrderStatus, PaymentTransaction, SandboxCheckout
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    SEED_BUNDLE,
    SEED_BUNDLE_NAME,
    SEED_ICCID,
    SERVER_PRICE,
    api_fixture,
    charges,
    confirm,
    create_order,
    fake_stripe_server_fixture,
    order_of,
    order_url,
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


def iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def order_body(order_id: str) -> dict:
    """The order as the API shows it, from the database row."""
    order = order_of(order_id)
    return {
        "order_id": order.order_id,
        "status": order.status,
        "iccid": SEED_ICCID,
        "provider": "TRAVELROAM",
        "bundle": SEED_BUNDLE,
        "plan_name": SEED_BUNDLE_NAME,
        "amount": "1.60",
        "currency": "USD",
        "created_at": iso(order.created_at),
        "paid_at": iso(order.paid_at),
        "completed_at": iso(order.completed_at),
        "refunded_at": iso(order.refunded_at),
    }


def test_an_unpaid_checkout_is_a_409_and_changes_nothing(api):
    order_id, session_id = create_order(api)

    response = confirm(api, session_id)

    assert response.status_code == 409
    assert response.json() == {
        "error": "The payment has not been completed.",
        "code": "payment_not_completed",
        "details": "The payment has not been completed yet.",
    }
    assert order_of(order_id).status == S.PENDING
    assert top_ups() == []


def test_a_paid_checkout_completes_the_order_with_one_top_up(api):
    order_id, session_id = create_order(api)
    sandbox_pay(session_id)  # paid at the gateway; the webhook has not arrived (yet)

    response = confirm(api, session_id)

    assert response.status_code == 200
    order = order_of(order_id)
    assert order.status == S.COMPLETED
    assert response.json() == {
        "order": order_body(order_id),
        "message": "Payment received and your eSIM has been topped up.",
    }
    assert response.json()["order"]["status"] == "COMPLETED"
    [top_up] = top_ups()
    assert (top_up["provider"], top_up["iccid"], top_up["item"]) == ("travelroam", SEED_ICCID, SEED_BUNDLE)
    assert order.provider_reference == top_up["reference"]
    assert order.payment_intent_id.startswith("sbx_pi_")
    assert (order.attempts, order.lease_until, order.last_error) == (1, None, "")
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]


def test_ten_more_confirms_change_nothing(api):
    order_id, session_id = create_order(api)
    sandbox_pay(session_id)
    first = confirm(api, session_id).json()

    answers = [confirm(api, session_id) for _ in range(10)]

    assert [answer.status_code for answer in answers] == [200] * 10
    assert all(answer.json() == first for answer in answers)
    assert len(top_ups()) == 1
    assert charges(order_of(order_id)) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    assert PaymentTransaction.objects.count() == 1
    assert order_of(order_id).attempts == 1


def test_the_webhook_after_a_confirm_changes_nothing(api):
    order_id, session_id = create_order(api)
    body = sandbox_pay(session_id)
    confirm(api, session_id)

    response = post_webhook(api, body, sign(body))

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    assert order_of(order_id).status == S.COMPLETED
    assert len(top_ups()) == 1
    assert charges(order_of(order_id)) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]


def test_an_unknown_session_is_a_404(api):
    response = confirm(api, "cs_test_unknown")

    assert response.status_code == 404
    assert response.json() == {
        "error": "No renewal order has this checkout session.",
        "code": "session_not_found",
        "details": "Unknown checkout session cs_test_unknown.",
    }


def test_a_missing_session_id_is_a_400(api):
    response = api.post("/api/esim/renewal/confirm-payment/", {}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid input.",
        "code": "invalid_input",
        "details": "session_id: This field is required.",
        "fields": {"session_id": ["This field is required."]},
    }


def test_a_paid_amount_that_differs_from_the_order_goes_to_manual_review(api):
    order_id, session_id = create_order(api)
    # The gateway took 1.00 for an order of 1.60 (never fulfil what was not paid for).
    SandboxCheckout.objects.filter(session_id=session_id).update(amount_minor=100)
    sandbox_pay(session_id)

    response = confirm(api, session_id)

    assert response.status_code == 200
    assert response.json()["order"]["status"] == "MANUAL_REVIEW"
    assert response.json()["message"] == "Payment received; our team is completing your renewal."
    assert order_of(order_id).status == S.MANUAL_REVIEW
    assert top_ups() == []


def test_the_order_endpoint_serves_polling(api):
    order_id, session_id = create_order(api)
    assert api.get(order_url(order_id)).json() == {"order": order_body(order_id)}

    sandbox_pay(session_id)
    confirm(api, session_id)

    response = api.get(order_url(order_id))
    assert response.status_code == 200
    assert response.json() == {"order": order_body(order_id)}
    assert response.json()["order"]["status"] == "COMPLETED"


def test_an_unknown_order_is_a_404(api):
    response = api.get(order_url("REN-NOSUCHORDER0000000"))

    assert response.status_code == 404
    assert response.json() == {
        "error": "Order not found.",
        "code": "order_not_found",
        "details": "No renewal order REN-NOSUCHORDER0000000.",
    }


# --- Stripe: delayed payment methods and expiry ----------------------------------------------------


def test_a_delayed_payment_still_processing_is_a_202(api, stripe_gateway):
    order_id, session_id = create_order(api)
    stripe_gateway.async_pending(session_id)

    response = confirm(api, session_id)

    assert response.status_code == 202
    assert response.json() == {
        "order": order_body(order_id),
        "message": "Payment is processing; this page updates when it settles.",
    }
    assert response.json()["order"]["status"] == "PENDING"
    assert top_ups() == []

    stripe_gateway.async_succeed(session_id)
    settled = confirm(api, session_id)

    assert settled.status_code == 200
    assert settled.json()["order"]["status"] == "COMPLETED"
    assert len(top_ups()) == 1
    payment_intent = stripe_gateway.state.sessions[session_id]["payment_intent"]
    assert order_of(order_id).payment_intent_id == payment_intent


def test_an_expired_checkout_is_a_409_and_the_order_expires(api, stripe_gateway):
    order_id, session_id = create_order(api)
    stripe_gateway.expire(session_id)

    response = confirm(api, session_id)

    assert response.status_code == 409
    assert response.json() == {
        "error": "The payment has not been completed.",
        "code": "payment_not_completed",
        "details": "The checkout expired before payment. Start a new renewal.",
    }
    order = order_of(order_id)
    assert order.status == S.EXPIRED
    assert charges(order) == [("CHARGE", "FAILED", SERVER_PRICE, session_id)]
    assert top_ups() == []


def test_a_failed_delayed_payment_fails_the_order(api, stripe_gateway):
    order_id, session_id = create_order(api)
    stripe_gateway.fail(session_id)
    body = stripe_event_body(stripe_gateway, "checkout.session.async_payment_failed", session_id)

    delivered = post_webhook(api, body, sign(body))
    response = confirm(api, session_id)

    assert (delivered.status_code, delivered.json()) == (200, {"result": "processed"})
    assert response.status_code == 409
    assert response.json() == {
        "error": "The payment has not been completed.",
        "code": "payment_not_completed",
        "details": "The payment failed. Start a new renewal to try again.",
    }
    order = order_of(order_id)
    assert order.status == S.FAILED
    assert charges(order) == [("CHARGE", "FAILED", SERVER_PRICE, session_id)]
    assert top_ups() == []


def test_a_failed_delayed_payment_fails_the_order_without_its_event(api, stripe_gateway):
    order_id, session_id = create_order(api)
    stripe_gateway.fail(session_id)  # the async_payment_failed webhook is lost

    response = confirm(api, session_id)

    assert response.status_code == 409
    assert response.json()["details"] == "The payment failed. Start a new renewal to try again."
    order = order_of(order_id)
    assert order.status == S.FAILED
    assert charges(order) == [("CHARGE", "FAILED", SERVER_PRICE, session_id)]


def test_a_gateway_that_cannot_be_reached_is_a_503_and_changes_nothing(api, stripe_gateway):
    order_id, session_id = create_order(api)
    stripe_gateway.pay(session_id)
    stripe_gateway.fail_next(f"/v1/checkout/sessions/{session_id}", status=0)  # connection dropped

    response = confirm(api, session_id)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "error": "The payment service is unavailable right now.",
        "code": "payment_gateway_unavailable",
        "details": "Could not verify the payment; please retry shortly.",
    }
    assert order_of(order_id).status == S.PENDING
    assert top_ups() == []
    # The frontend's next try goes through.
    assert confirm(api, session_id).json()["order"]["status"] == "COMPLETED"
    assert len(top_ups()) == 1
