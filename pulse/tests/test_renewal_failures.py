"""When the provider top-up fails: a definite refusal ends in exactly one refund (or manual review);
an unknown outcome (timeout, 5xx) leaves the order FULFILLING for the reconciler, never re-ordered."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from pulse.models import OrderAuditEntry, OrderStatus
from pulse.payments import get_gateway
from pulse.services import refunds
from pulse.services.fulfilment import complete, top_up_request
from pulse.services.providers import provider_client
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    SERVER_PRICE,
    SERVER_PRICE_MINOR,
    TOP_UP_PATH,
    api_fixture,
    charges,
    confirm,
    create_order,
    order_of,
    post_webhook,
    refund_rows,
    renewal_env_fixture,
    retry_inputs,
    sandbox_pay,
    sandbox_refunds,
    sign,
    top_ups,
    world_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("renewal_env")]

S = OrderStatus


def paid_order(api) -> tuple[str, str, bytes]:
    """An order paid at the gateway whose webhook has not been delivered yet."""
    order_id, session_id = create_order(api)
    return order_id, session_id, sandbox_pay(session_id)


def path_of(order_id: str) -> list[tuple[str, str]]:
    return list(
        OrderAuditEntry.objects.filter(order__order_id=order_id)
        .exclude(action="created")
        .values_list("from_status", "to_status")
    )


# --- a definite refusal -----------------------------------------------------------------------------


def test_a_refused_top_up_is_refunded_once_with_a_stable_key(api, world):
    order_id, session_id, body = paid_order(api)
    before = retry_inputs(order_of(order_id))
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)

    delivered = post_webhook(api, body, sign(body))

    assert (delivered.status_code, delivered.json()) == (200, {"result": "processed"})
    order = order_of(order_id)
    assert order.status == S.REFUNDED
    assert path_of(order_id) == [
        (S.PENDING, S.PAID),
        (S.PAID, S.FULFILLING),
        (S.FULFILLING, S.PROVIDER_FAILED),
        (S.PROVIDER_FAILED, S.REFUND_PENDING),
        (S.REFUND_PENDING, S.REFUNDED),
    ]
    assert top_ups() == []
    assert sandbox_refunds() == [
        (f"refund:{order_id}", order.payment_intent_id, SERVER_PRICE_MINOR, "succeeded")
    ]
    assert order.refund_id.startswith("sbx_re_")
    assert refund_rows(order) == [("REFUND", "REFUNDED", SERVER_PRICE, order.refund_id)]
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    assert order.refunded_at is not None
    refusal = OrderAuditEntry.objects.get(order=order, to_status=S.PROVIDER_FAILED).note
    assert refusal.startswith("rejected: HTTP 422: Order rejected by the provider")
    assert retry_inputs(order) == before

    # The customer's success page (and every reload) tells them, and nothing is refunded twice.
    for _ in range(3):
        response = confirm(api, session_id)
        assert response.status_code == 200
        assert response.json()["order"]["status"] == "REFUNDED"
        assert response.json()["message"] == (
            "The provider could not top up your eSIM; your payment has been refunded."
        )
    refunds.issue_refund(order.pk, by="test")  # a late retry by any worker is a no-op
    assert len(sandbox_refunds()) == 1
    assert len(refund_rows(order)) == 1


def test_a_repeated_refund_request_returns_the_same_refund(api, world):
    order_id, _session_id, body = paid_order(api)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)
    post_webhook(api, body, sign(body))
    order = order_of(order_id)

    # What a second worker racing the first would send: the same key, so the same refund.
    again = get_gateway().refund(
        payment_intent_id=order.payment_intent_id,
        amount_minor=SERVER_PRICE_MINOR,
        currency="USD",
        idempotency_key=refunds.refund_key(order),
        metadata={"order_id": order_id},
    )

    assert again.refund_id == order.refund_id
    assert len(sandbox_refunds()) == 1


def test_with_auto_refund_off_a_refused_top_up_goes_to_manual_review(api, world, settings):
    settings.RENEWAL_AUTO_REFUND = False
    order_id, session_id, body = paid_order(api)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)

    post_webhook(api, body, sign(body))

    order = order_of(order_id)
    assert order.status == S.MANUAL_REVIEW
    assert path_of(order_id)[-2:] == [(S.FULFILLING, S.PROVIDER_FAILED), (S.PROVIDER_FAILED, S.MANUAL_REVIEW)]
    assert sandbox_refunds() == []
    assert refund_rows(order) == []
    assert order.refund_id == ""
    response = confirm(api, session_id)
    assert response.status_code == 200
    assert response.json()["message"] == "Payment received; our team is completing your renewal."


def test_a_refund_the_gateway_refuses_goes_to_manual_review(api, world):
    order_id, _session_id, body = paid_order(api)
    payment_intent = json.loads(body)["data"]["object"]["payment_intent"]
    # Someone already refunded the whole payment by hand, so our full refund is refused.
    get_gateway().refund(
        payment_intent_id=payment_intent,
        amount_minor=SERVER_PRICE_MINOR,
        currency="USD",
        idempotency_key="dashboard-refund",
        metadata={},
    )
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)

    post_webhook(api, body, sign(body))

    order = order_of(order_id)
    assert order.status == S.MANUAL_REVIEW
    assert path_of(order_id)[-2:] == [
        (S.PROVIDER_FAILED, S.REFUND_PENDING),
        (S.REFUND_PENDING, S.MANUAL_REVIEW),
    ]
    assert [key for key, *_ in sandbox_refunds()] == ["dashboard-refund"]
    assert refund_rows(order) == []
    note = OrderAuditEntry.objects.filter(order=order, to_status=S.MANUAL_REVIEW).get().note
    assert note.startswith("refund refused: ")


# --- an unknown outcome -----------------------------------------------------------------------------


@pytest.fixture
def short_provider_timeout(settings):
    """A read timeout the simulator's `timeout` fault outlasts quickly."""
    settings.PROVIDER_TIMEOUT = 0.3
    settings.PROVIDER_CONNECT_TIMEOUT = 0.3


@pytest.mark.usefixtures("short_provider_timeout")
def test_a_timed_out_top_up_stays_fulfilling_and_is_never_placed_again(api, world):
    order_id, session_id, body = paid_order(api)
    before = retry_inputs(order_of(order_id))
    # The simulator carries the top-up out, but answers too late for our read timeout.
    world.set_fault("travelroam", "timeout", path_contains=TOP_UP_PATH, delay_s=5, times=1)

    response = confirm(api, session_id)

    assert response.status_code == 200
    assert response.json()["order"]["status"] == "FULFILLING"
    assert response.json()["message"] == "Payment received; your top-up is being placed."
    order = order_of(order_id)
    assert order.status == S.FULFILLING
    assert order.last_error.startswith("outcome unknown (timeout): ")
    assert order.lease_until is not None
    assert (order.attempts, order.provider_reference, order.refund_id) == (1, None, "")
    assert len(top_ups()) == 1  # the one attempt, carried out by the provider
    assert sandbox_refunds() == []
    assert retry_inputs(order) == before
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]

    # More confirms (reloads) and the webhook never place a second top-up while the outcome is unknown.
    for _ in range(3):
        assert confirm(api, session_id).json()["order"]["status"] == "FULFILLING"
    assert post_webhook(api, body, sign(body)).json() == {"result": "processed"}
    assert order_of(order_id).status == S.FULFILLING
    assert len(top_ups()) == 1
    assert order_of(order_id).attempts == 1


@pytest.mark.usefixtures("short_provider_timeout")
def test_a_timed_out_top_up_is_settled_by_asking_the_provider(api, world):
    order_id, session_id, _body = paid_order(api)
    world.set_fault("travelroam", "timeout", path_contains=TOP_UP_PATH, delay_s=5, times=1)
    confirm(api, session_id)
    order = order_of(order_id)
    [placed] = top_ups()

    # What the reconciler does: ask the provider by the order's own inputs, never order again.
    found = provider_client("travelroam").find_top_up(
        top_up_request(order), since=order.paid_at - timedelta(minutes=5)
    )
    assert found is not None
    assert complete(order, by="test", reference=found.reference)

    order.refresh_from_db()
    assert (order.status, order.lease_until, order.last_error) == (S.COMPLETED, None, "")
    assert order.provider_reference == found.reference
    assert top_ups() == [placed]
    assert confirm(api, session_id).json()["order"]["status"] == "COMPLETED"


def test_a_provider_5xx_on_the_top_up_is_an_unknown_outcome_too(api, world):
    order_id, session_id, _body = paid_order(api)
    before = retry_inputs(order_of(order_id))
    world.set_fault("travelroam", "http_500", path_contains=TOP_UP_PATH, times=1)

    response = confirm(api, session_id)

    assert response.json()["order"]["status"] == "FULFILLING"
    order = order_of(order_id)
    assert order.status == S.FULFILLING
    assert order.last_error.startswith("outcome unknown (")
    assert sandbox_refunds() == []
    assert retry_inputs(order) == before
