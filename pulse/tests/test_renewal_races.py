"""Concurrency: confirm calls and webhook deliveries racing in threads fulfil (or refund) exactly once.

Real threads with their own database connections, released together by a barrier. They need a
database every connection shares: PostgreSQL or a file-backed SQLite (run with DATABASE_URL); the
default in-memory SQLite skips them.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from pulse.models import OrderAuditEntry, OrderStatus, PaymentEvent, RenewalOrder, SandboxCheckout
from pulse.services import fulfilment
from pulse.services.catalog import catalog_sync
from pulse.services.safe_cache import safe_cache
from pulse.tests.race_helpers import exceptions_in, run_together, skip_unless_shared_database
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    FRONTEND_BODY,
    SERVER_PRICE,
    TOP_UP_PATH,
    charges,
    confirm,
    create,
    create_as,
    create_order,
    order_of,
    post_webhook,
    refund_rows,
    renewal_env_fixture,
    sandbox_pay,
    sandbox_refunds,
    sign,
    top_ups,
    world_fixture,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("renewal_env")]

S = OrderStatus


@pytest.fixture(autouse=True)
def _shared_database(transactional_db):
    skip_unless_shared_database()  # judged on the test database, hence after it is set up


def answer(response) -> tuple[int, object]:
    return response.status_code, response.json()


@pytest.mark.parametrize("threads", [4, 8])
def test_confirms_and_webhooks_racing_place_one_top_up(threads):
    order_id, session_id = create_order(APIClient())
    body = sandbox_pay(session_id)
    signature = sign(body)
    calls = [
        (lambda: ("confirm", answer(confirm(APIClient(), session_id))))
        if i % 2 == 0
        else (lambda: ("webhook", answer(post_webhook(APIClient(), body, signature))))
        for i in range(threads)
    ]

    results = run_together(calls)

    assert not exceptions_in(results), results
    for kind, (status, payload) in results:
        assert status == 200, payload
        if kind == "webhook":
            assert payload["result"] in ("processed", "duplicate")
        else:
            assert payload["order"]["order_id"] == order_id
    order = order_of(order_id)
    assert order.status == S.COMPLETED
    assert len(top_ups()) == 1
    assert charges(order) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    assert order.attempts == 1
    assert OrderAuditEntry.objects.filter(order=order, to_status=S.PAID).count() == 1
    assert OrderAuditEntry.objects.filter(order=order, to_status=S.FULFILLING).count() == 1
    event = PaymentEvent.objects.get()
    assert (event.result, event.deliveries) == ("processed", threads // 2)


def test_racing_confirms_after_a_refused_top_up_refund_once(world):
    order_id, session_id = create_order(APIClient())
    sandbox_pay(session_id)
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH)

    results = run_together([lambda: answer(confirm(APIClient(), session_id)) for _ in range(6)])

    assert all(status == 200 for status, _payload in results), results
    order = order_of(order_id)
    assert order.status == S.REFUNDED
    assert sandbox_refunds() == [(f"refund:{order_id}", order.payment_intent_id, 160, "succeeded")]
    assert refund_rows(order) == [("REFUND", "REFUNDED", SERVER_PRICE, order.refund_id)]
    assert top_ups() == []


def test_a_sync_landing_mid_way_through_a_mismatched_payment_never_fulfils_it(monkeypatch):
    order_id, session_id = create_order(APIClient())
    # The gateway took 1.00 for an order of 1.60: the order must go to staff, never to the provider.
    SandboxCheckout.objects.filter(session_id=session_id).update(amount_minor=100)
    sandbox_pay(session_id)
    original = fulfilment._record_charge
    other: list[threading.Thread] = []
    outcome: list[object] = []

    def sync_in_another_worker() -> None:
        try:
            outcome.append(fulfilment.renewal_payment_sync(session_id=session_id, by="webhook").order.status)
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    def record_charge_then_let_a_webhook_in(order, checkout):
        # Right after this worker marked the order PAID, a webhook for the same session is handled.
        original(order, checkout)
        if not other:
            other.append(threading.Thread(target=sync_in_another_worker))
            other[0].start()
            other[0].join(timeout=0.5)  # it runs to the end, unless it must wait for this worker

    monkeypatch.setattr(fulfilment, "_record_charge", record_charge_then_let_a_webhook_in)

    fulfilment.renewal_payment_sync(session_id=session_id, by="confirm")
    other[0].join(timeout=30)

    assert outcome == [S.MANUAL_REVIEW]
    assert order_of(order_id).status == S.MANUAL_REVIEW
    assert top_ups() == []


class CacheDown:
    """The shared cache is unreachable: every operation fails, so SafeCache fails open (a lock taken
    there would say "free" to everyone, like a per-process cache on several workers)."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("cache down")

        return fail


@pytest.mark.parametrize("cache", ["shared", "down"])
@pytest.mark.parametrize("requester", ["key", "email"])
def test_a_double_clicked_create_opens_one_checkout(monkeypatch, cache, requester):
    # The catalogue is synced as in any running deployment (a first-ever lazy sync is another story).
    catalog_sync(provider="travelroam")
    if cache == "down":  # the database alone must keep one order per requester
        monkeypatch.setattr(safe_cache, "_given", CacheDown())
    identity = (
        {"headers": {"HTTP_IDEMPOTENCY_KEY": "fake-tab-1"}}
        if requester == "key"
        else {"customer_email": "buyer@example.com"}
    )

    results = run_together([lambda: answer(create_as(APIClient(), **identity)) for _ in range(8)])

    assert all(status == 201 for status, _payload in results), results
    sessions = {payload["payment"]["session_id"] for _status, payload in results}
    orders = {payload["order"]["order_id"] for _status, payload in results}
    assert len(sessions) == len(orders) == 1
    assert sorted(payload["reused"] for _status, payload in results) == [False] + [True] * 7
    assert RenewalOrder.objects.count() == 1
    assert SandboxCheckout.objects.count() == 1


def test_customers_creating_at_the_same_moment_each_get_their_own_order():
    catalog_sync(provider="travelroam")
    emails = [f"customer{i}@example.com" for i in range(6)]

    results = run_together([lambda e=e: answer(create_as(APIClient(), customer_email=e)) for e in emails])

    assert all(status == 201 for status, _payload in results), results
    assert [payload["reused"] for _status, payload in results] == [False] * 6
    assert len({payload["order"]["order_id"] for _status, payload in results}) == 6
    for (_status, payload), email in zip(results, emails, strict=True):
        assert order_of(payload["order"]["order_id"]).customer_email == email  # each answer is its own
