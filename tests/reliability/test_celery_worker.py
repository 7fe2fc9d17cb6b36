"""Exactly once under Celery's at-least-once delivery, with real worker processes (docs/background.md §8).

The stack runs as an operator would run it, every part its own process on 127.0.0.1: the provider
simulators over HTTP (one provider state for every process), gunicorn, and `celery -A
esim_status_checker worker` processes (some with embedded beat), on the pytest PostgreSQL database and
Redis (REDIS_TEST_URL) as broker and cache; one test brings a private redis-server it stops and starts,
one goes through RabbitMQ. The customer's payment is played in this process with the sandbox gateway
(same database); the webhook goes to gunicorn over HTTP.

PostgreSQL only (several processes writing one SQLite file is not a deployment we support). Skipped with
the reason on SQLite or when Redis or RabbitMQ is unreachable; with MULTI_WORKER_REQUIRED=1 (the
PostgreSQL pass of .ci/run) that is a failure instead, so CI cannot pass by skipping.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests
from celery import Celery
from django.db import connection
from kombu import Connection, Exchange, Queue

from pulse.models import OrderAuditEntry, OrderStatus, RenewalOrder
from pulse.payments.sandbox_gateway import SandboxGateway
from pulse.services.fulfilment import renewal_payment_sync
from tests.reliability import servers
from tests.reliability.celery_stack import (
    SEED_ICCID,
    WEBHOOK_SECRET,
    PrivateRedis,
    Stack,
    app_environment,
    database_url,
    deliver_webhook,
    start_simulator,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

S = OrderStatus
REDIS_URL = os.environ.get("REDIS_TEST_URL") or "redis://127.0.0.1:6379/13"
RABBITMQ_URL = os.environ.get("RABBITMQ_TEST_URL") or "amqp://guest:guest@127.0.0.1:5672//"
FULFIL = "pulse.tasks.fulfil_order"
# A killed worker's lease runs out after this; the top-up task's time limit must stay below it.
SHORT_LEASE = {"FULFILMENT_LEASE_SECONDS": "6", "CELERY_FULFIL_TIME_LIMIT": "5"}


@dataclass
class CeleryStack:
    stack: Stack
    web: str
    prefix: str

    def __getattr__(self, name):
        return getattr(self.stack, name)


@pytest.fixture(scope="module")
def celery_stack(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[CeleryStack]:
    if connection.vendor != "postgresql":
        servers.unavailable("the real-worker tests run on PostgreSQL (DATABASE_URL=postgres://...)")
    redis_client = servers.require_redis(REDIS_URL, "the broker")
    log_dir = tmp_path_factory.mktemp("celery_worker")
    prefix = f"test-celery-{os.getpid()}"
    simulator_proc, simulator = start_simulator(log_dir)
    env = app_environment(
        db_url=database_url(connection.settings_dict),
        simulator=simulator,
        cache_url=REDIS_URL,
        broker_url=REDIS_URL,
        prefix=prefix,
    )
    stack = Stack(log_dir, simulator, env, procs=[simulator_proc])
    with servers.stopped_on_sigterm(stack.stop_all):
        try:
            web = stack.start_web()
            yield CeleryStack(stack, web, prefix)
        finally:
            stack.stop_all()
            for key in redis_client.scan_iter(f"*{prefix}*"):
                redis_client.delete(key)


@pytest.fixture
def fresh(celery_stack: CeleryStack, settings) -> Iterator[CeleryStack]:
    """A fresh simulator and empty queues; the sandbox gateway here signs as the web process verifies."""
    celery_stack.control("POST", "/reset")
    settings.PAYMENT_GATEWAY = "sandbox"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    yield celery_stack
    celery_stack.stop_workers()
    _purge(REDIS_URL, celery_stack.prefix)


# --- playing the customer, Stripe and a second publisher ----------------------------------------------------


def pay(stack: CeleryStack, iccid: str = SEED_ICCID, web: str | None = None) -> tuple[str, bytes, str]:
    """Create an order over HTTP and pay it at the sandbox gateway: (order id, event body, signature)."""
    created = requests.post(
        f"{web or stack.web}/api/esim/renewal/create/", json={"iccid": iccid, "currency": "USD"}, timeout=60
    )
    assert created.status_code == 201, created.text
    session_id = created.json()["payment"]["session_id"]
    _state, body, signature = SandboxGateway().sandbox_complete(session_id, "paid")
    return created.json()["order"]["order_id"], body, signature


def deliver(stack: CeleryStack, body: bytes, signature: str, web: str | None = None):
    """POST the signed event to the webhook; (response, seconds it took)."""
    return deliver_webhook(web or stack.web, body, signature)


def confirm(stack: CeleryStack, session_id: str) -> requests.Response:
    return requests.post(
        f"{stack.web}/api/esim/renewal/confirm-payment/", json={"session_id": session_id}, timeout=60
    )


def order(order_id: str) -> RenewalOrder:
    return RenewalOrder.objects.get(order_id=order_id)


def wait_for_status(order_id: str, status: str, timeout: float = 45.0) -> RenewalOrder:
    wait_for(lambda: order(order_id).status == status, f"order {order_id} {status}", timeout=timeout)
    return order(order_id)


def claims(order_id: str) -> list[str]:
    """Who moved the order to FULFILLING (each claim or lease take-over), in order."""
    entries = OrderAuditEntry.objects.filter(order__order_id=order_id, to_status=S.FULFILLING).order_by("pk")
    return [f"{entry.source}:{entry.action}" for entry in entries]


def publish(broker_url: str, prefix: str, task: str, *args) -> None:
    """Send `task(*args)` as another web process would: the same queue, through the broker only."""
    queue = f"{prefix}.fulfilment"
    app = Celery(f"publisher-{uuid.uuid4().hex[:6]}", broker=broker_url, set_as_current=False)
    app.conf.task_queues = [Queue(queue, Exchange(queue, type="direct"), routing_key=queue)]
    with app:
        app.send_task(task, args=list(args), queue=queue)


def _purge(broker_url: str, prefix: str) -> None:
    with contextlib.suppress(Exception), Connection(broker_url, connect_timeout=3) as conn:
        channel = conn.default_channel
        for queue in (f"{prefix}.fulfilment", f"{prefix}.jobs"):
            with contextlib.suppress(Exception):
                channel.queue_purge(queue)


def task_lines(*workers, outcome: str) -> list[str]:
    """Log lines of fulfil_order tasks that ended with `outcome` (e.g. "succeeded")."""
    return [
        line
        for worker in workers
        for line in worker.text().splitlines()
        if FULFIL in line and outcome in line
    ]


# --- the tests ---------------------------------------------------------------------------------------------


def test_the_webhook_answers_before_a_slow_top_up_and_the_worker_completes_it(fresh):
    worker = fresh.start_worker("solo")
    fresh.slow_top_ups(4)  # the provider takes 4 s to answer each top-up
    order_id, body, signature = pay(fresh)

    response, _seconds = deliver(fresh, body, signature)
    when_answered = order(order_id).status

    assert (response.status_code, response.json()) == (200, {"result": "processed"})
    assert when_answered in {S.PAID, S.FULFILLING}  # answered while the top-up was still under way
    done = wait_for_status(order_id, S.COMPLETED)
    (topup,) = fresh.topups()
    assert topup["reference"] == done.provider_reference
    assert claims(order_id) == ["worker:claim"]
    assert len(task_lines(worker, outcome="succeeded")) == 1


def test_the_success_page_confirms_show_completed_and_the_worker_tops_up_once(fresh):
    fresh.start_worker("behind-confirms")
    fresh.slow_top_ups(1)
    order_id, body, signature = pay(fresh)
    assert deliver(fresh, body, signature)[0].status_code == 200
    session_id = order(order_id).checkout_session_id

    # The published frontend in development mode: two confirms at once, then a reload.
    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: confirm(fresh, session_id), range(2)))
    replies.append(confirm(fresh, session_id))

    assert [(r.status_code, r.json()["order"]["status"]) for r in replies] == [(200, "COMPLETED")] * 3
    assert len(fresh.topups()) == 1
    assert len(claims(order_id)) == 1  # the worker's, unless it was slower than CONFIRM_FULFIL_AFTER_SECONDS


def test_with_no_worker_running_confirm_places_the_top_up_itself(fresh):
    order_id, body, signature = pay(fresh)
    assert deliver(fresh, body, signature)[0].status_code == 200  # the task waits: no worker
    session_id = order(order_id).checkout_session_id

    with ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda _: confirm(fresh, session_id), range(2)))

    assert [(r.status_code, r.json()["order"]["status"]) for r in replies] == [(200, "COMPLETED")] * 2
    assert len(fresh.topups()) == 1
    assert claims(order_id) == ["confirm:claim"]


def test_one_task_delivered_six_times_to_two_workers_places_one_top_up(fresh):
    first, second = fresh.start_worker("first"), fresh.start_worker("second")
    fresh.slow_top_ups(2, times=1)  # the claimer is busy while the copies arrive
    order_id, body, signature = pay(fresh)
    assert deliver(fresh, body, signature)[0].status_code == 200
    pk = order(order_id).pk

    for _ in range(5):  # the same task again: a redelivery, a retry, a second web process
        publish(REDIS_URL, fresh.prefix, FULFIL, pk)

    done = wait_for_status(order_id, S.COMPLETED)
    wait_for(lambda: len(task_lines(first, second, outcome="succeeded")) == 6, "six task runs", timeout=45)
    assert len(fresh.topups()) == 1
    assert (done.attempts, claims(order_id)) == (1, ["worker:claim"])
    assert task_lines(first, outcome="succeeded")
    assert task_lines(second, outcome="succeeded")  # both workers ran copies; one claimed


def test_a_worker_killed_in_the_middle_of_a_slow_top_up_is_settled_by_the_reconciler(fresh):
    victim = fresh.start_worker("victim", concurrency=1, **SHORT_LEASE)
    fresh.slow_top_ups(60, times=1)  # the provider does the top-up, then takes a minute to say so
    order_id, body, signature = pay(fresh)
    assert deliver(fresh, body, signature)[0].status_code == 200
    wait_for(lambda: len(fresh.topups()) == 1, "the top-up at the provider", timeout=30)
    assert order(order_id).status == S.FULFILLING

    victim.kill()  # SIGKILL to the worker and its pool: no goodbye, no acknowledgement

    assert order(order_id).status == S.FULFILLING
    fresh.start_worker("rescuer", beat=True, SCHEDULE_RECONCILER_SECONDS="1", **SHORT_LEASE)
    done = wait_for_status(order_id, S.COMPLETED, timeout=60)

    (topup,) = fresh.topups()  # exactly one: the reconciler asked the provider instead of ordering again
    assert done.provider_reference == topup["reference"]
    assert claims(order_id) == ["worker:claim", "reconciler:lease taken over"]


def test_with_the_broker_down_webhooks_are_answered_and_the_reconciler_catches_up(fresh):
    broker = PrivateRedis(fresh.log_dir)
    broker.start()
    overrides = {"CELERY_BROKER_URL": broker.url, "RECONCILER_STUCK_AFTER_SECONDS": "2"}
    try:
        web = fresh.start_web("web-private-broker", workers=1, **overrides)
        worker = fresh.start_worker("catch-up", beat=True, SCHEDULE_RECONCILER_SECONDS="1", **overrides)
        broker.stop()

        paid = []
        for _ in range(2):
            order_id, body, signature = pay(fresh, web=web)
            response, _seconds = deliver(fresh, body, signature, web=web)
            assert (response.status_code, response.json()) == (200, {"result": "processed"})
            paid.append(order_id)
        health = requests.get(f"{web}/api/esim/health/", timeout=30).json()
        time.sleep(3)  # the outage lasts longer than RECONCILER_STUCK_AFTER_SECONDS
        assert [order(order_id).status for order_id in paid] == [S.PAID, S.PAID]
        assert fresh.topups() == []

        broker.start()  # back, on the same port: the worker reconnects, beat ticks again
        if worker.proc.poll() is not None:
            # kombu's Redis transport can exit the worker ("Unrecoverable error") when the broker
            # vanishes while a task is unacknowledged; in production its supervisor restarts it
            # (docs/background.md §1), as here.
            worker = fresh.start_worker(
                "catch-up-restarted", beat=True, SCHEDULE_RECONCILER_SECONDS="1", **overrides
            )

        for order_id in paid:
            wait_for_status(order_id, S.COMPLETED, timeout=90)
    finally:
        broker.stop()
    assert (health["status"], health["background"]["broker"]) == ("degraded", "error")
    assert len(fresh.topups()) == 2
    assert [claims(order_id) for order_id in paid] == [["reconciler:claim"]] * 2
    assert "paid resumed" in worker.text()


def test_a_top_up_task_makes_the_round_trip_through_rabbitmq(fresh):
    try:
        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # any transport error: not reachable
        servers.unavailable(f"RabbitMQ is not reachable at {RABBITMQ_URL} ({type(exc).__name__})")
    prefix = f"{fresh.prefix}-amqp"
    worker = fresh.start_worker("rabbit", CELERY_BROKER_URL=RABBITMQ_URL, CELERY_QUEUE_PREFIX=prefix)
    try:
        order_id, _body, _signature = pay(fresh)
        session_id = order(order_id).checkout_session_id
        renewal_payment_sync(session_id=session_id, by="test", fulfil_now=False)
        assert order(order_id).status == S.PAID

        publish(RABBITMQ_URL, prefix, FULFIL, order(order_id).pk)

        done = wait_for_status(order_id, S.COMPLETED)
        assert len(fresh.topups()) == 1
        assert done.provider_reference == fresh.topups()[0]["reference"]
        assert task_lines(worker, outcome="succeeded")
    finally:
        fresh.stop_workers()
        with Connection(RABBITMQ_URL, connect_timeout=3) as conn:
            for queue in (f"{prefix}.fulfilment", f"{prefix}.jobs"):
                with contextlib.suppress(Exception):
                    conn.default_channel.queue_delete(queue)
