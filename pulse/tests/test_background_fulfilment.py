"""The webhook hands the top-up to a worker; confirm waits for it or places it itself (docs/background.md).

Celery runs against kombu's in-memory broker here (no eager mode): a test sees exactly which tasks a
request handed over and plays the worker by running them. A test's transaction never commits, so
`django_capture_on_commit_callbacks(execute=True)` stands for the commit that releases the task.
Real worker processes: tests/reliability/test_celery_worker.py.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from pulse import tasks
from pulse.models import OrderStatus
from pulse.services import fulfilment, order_state
from pulse.services.background import enqueue_fulfilment
from pulse.services.fulfilment import renewal_payment_sync
from pulse.services.reconciler import reconcile_once
from pulse.tests.background_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    broker_down_fixture,
    queued_fixture,
)
from pulse.tests.renewal_helpers import (  # noqa: F401
    SEED_ICCID,
    api_fixture,
    confirm,
    create_order,
    order_of,
    post_webhook,
    renewal_env_fixture,
    sandbox_pay,
    sign,
    top_ups,
    world_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("renewal_env")]

S = OrderStatus
FULFIL = "pulse.tasks.fulfil_order"
CHECK = "/api/esim/check/"


@pytest.fixture(autouse=True)
def _short_waits(settings):
    settings.CONFIRM_FULFIL_AFTER_SECONDS = 0.2
    settings.CONFIRM_WAIT_SECONDS = 1.0


def paid_webhook(api, django_capture_on_commit_callbacks):
    """Create an order, pay it at the sandbox gateway and deliver the webhook; (order, response)."""
    order_id, session_id = create_order(api)
    body = sandbox_pay(session_id)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_webhook(api, body, sign(body))
    return order_of(order_id), response


def test_the_webhook_answers_once_the_order_is_paid_and_leaves_the_top_up_to_a_worker(
    api, queued, django_capture_on_commit_callbacks
):
    order, response = paid_webhook(api, django_capture_on_commit_callbacks)

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    assert order.status == S.PAID
    assert top_ups() == []
    (task,) = queued.take()
    assert (task.name, task.args) == (FULFIL, (order.pk,))

    assert task.run() == S.COMPLETED  # the worker
    assert order_of(order.order_id).status == S.COMPLETED
    assert len(top_ups()) == 1


def test_a_top_up_task_delivered_twice_places_one_top_up(api, queued, django_capture_on_commit_callbacks):
    order, _ = paid_webhook(api, django_capture_on_commit_callbacks)
    (task,) = queued.take()

    first, second = task.run(), task.run()  # at-least-once delivery: the same message again

    assert (first, second) == (S.COMPLETED, S.COMPLETED)
    assert len(top_ups()) == 1
    assert order_of(order.order_id).attempts == 1


def test_the_task_is_handed_over_only_when_the_transaction_commits(api, queued):
    order_id, _ = create_order(api)
    order = order_of(order_id)

    with transaction.atomic():
        assert enqueue_fulfilment(order.pk) is False  # a worker could not see uncommitted rows yet
        assert queued.take() == []

    # The test's own transaction is still open: nothing was handed over.
    assert queued.take() == []


def test_after_commit_the_task_reaches_the_broker(api, queued, django_capture_on_commit_callbacks):
    order_id, _ = create_order(api)
    order = order_of(order_id)

    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            enqueue_fulfilment(order.pk)
        assert queued.take() == []

    assert [task.args for task in queued.take()] == [(order.pk,)]


def test_a_task_for_an_order_that_is_not_paid_does_nothing(api, queued, django_capture_on_commit_callbacks):
    order, _ = paid_webhook(api, django_capture_on_commit_callbacks)
    (task,) = queued.take()
    confirm(api, order.checkout_session_id)  # no worker came: confirm placed the top-up
    assert order_of(order.order_id).status == S.COMPLETED

    assert task.run() == S.COMPLETED
    assert len(top_ups()) == 1


# --- the broker is down --------------------------------------------------------------------------------


def test_with_the_broker_down_the_webhook_still_answers_and_the_reconciler_fulfils_later(
    api, broker_down, django_capture_on_commit_callbacks, settings
):
    order, response = paid_webhook(api, django_capture_on_commit_callbacks)

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    assert order.status == S.PAID
    assert top_ups() == []

    settings.RECONCILER_STUCK_AFTER_SECONDS = 0
    summary = reconcile_once()

    assert summary.counts["paid_resumed"] == 1
    assert order_of(order.order_id).status == S.COMPLETED
    assert len(top_ups()) == 1


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_confirm_places_the_top_up_itself(api, broker_down):
    order_id, session_id = create_order(api)
    sandbox_pay(session_id)  # the webhook is lost

    response = confirm(api, session_id)

    assert response.status_code == 200
    assert response.json()["order"]["status"] == "COMPLETED"
    assert len(top_ups()) == 1
    assert [entry.source for entry in order_of(order_id).audit.filter(to_status=S.FULFILLING)] == ["confirm"]


# --- confirm (outside any transaction, as in production: the task is handed over at once) -----------


@pytest.mark.django_db(transaction=True)
def test_confirm_with_no_worker_places_the_top_up_itself_and_the_late_task_does_nothing(api, queued):
    order_id, session_id = create_order(api)
    sandbox_pay(session_id)

    response = confirm(api, session_id)

    assert response.status_code == 200
    assert response.json()["order"]["status"] == "COMPLETED"
    (task,) = queued.take()  # confirm handed it over, then took it back when no worker came
    assert task.args == (order_of(order_id).pk,)
    assert task.run() == S.COMPLETED
    assert len(top_ups()) == 1


@pytest.mark.django_db(transaction=True)
def test_confirm_of_an_order_a_worker_holds_answers_fulfilling_after_the_wait(api, queued, settings):
    order_id, session_id = create_order(api)
    sandbox_pay(session_id)
    order = order_of(order_id)
    settings.CONFIRM_FULFIL_AFTER_SECONDS = 0.0
    # A worker claimed the order and is still waiting for the provider.
    order_state.transition(order, S.PENDING, S.PAID, by="webhook")
    order_state.transition(order, S.PAID, S.FULFILLING, by="worker", increment_attempts=True)

    response = confirm(api, session_id)

    assert response.status_code == 200
    assert response.json()["order"]["status"] == "FULFILLING"
    assert top_ups() == []  # confirm never places a top-up for an order someone else claimed
    assert queued.take() == []


@pytest.mark.django_db(transaction=True)
def test_confirm_drops_this_process_cached_status_once_a_worker_elsewhere_completed_the_order(
    api, queued, monkeypatch
):
    order_id, session_id = create_order(api)
    check = {"iccid": SEED_ICCID}
    api.post(CHECK, check, format="json")
    assert api.post(CHECK, check, format="json").json()["cached"] is True
    sandbox_pay(session_id)
    renewal_payment_sync(session_id=session_id, by="webhook", fulfil_now=False)
    # A worker in another process completes it; the cache it clears is not this process's memory.
    monkeypatch.setattr(fulfilment, "forget_status", lambda iccid: None)
    assert tasks.fulfil_order.apply(args=[order_of(order_id).pk]).get() == S.COMPLETED
    monkeypatch.undo()
    assert api.post(CHECK, check, format="json").json()["cached"] is True  # stale

    assert confirm(api, session_id).json()["order"]["status"] == "COMPLETED"

    assert api.post(CHECK, check, format="json").json()["cached"] is False
