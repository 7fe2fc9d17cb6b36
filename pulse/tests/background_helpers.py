"""Fixtures for tests of background work without a worker process (no conftest edits).

The test settings run Celery tasks eagerly. These fixtures switch that off for one test and point
the app at kombu's in-memory broker (or a dead one), so a test sees exactly what a request handed to
the broker, and plays the worker itself with `QueuedTasks.run_all()`.
The real worker processes are exercised in tests/reliability/test_celery_worker.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.conf import settings

from esim_status_checker.celery import app
from pulse.services.background import BROKER_HEALTH_KEY
from pulse.services.safe_cache import safe_cache

DEAD_BROKER = "redis://127.0.0.1:1/0"  # nothing listens on port 1: connections are refused at once


@contextlib.contextmanager
def broker(url: str) -> Iterator[None]:
    """Publish to `url` instead of running tasks inline, for the duration of the block."""
    previous = (app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.task_always_eager = False
    app.conf.broker_url = url
    app.conf.broker_transport_options = {}
    _forget_connections()
    safe_cache.delete(BROKER_HEALTH_KEY)
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.broker_url, app.conf.broker_transport_options = previous
        _forget_connections()
        safe_cache.delete(BROKER_HEALTH_KEY)


def _forget_connections() -> None:
    # The connection and producer pools are built once per broker URL; drop them with the URL.
    app._pool = None
    app.amqp._producer_pool = None


@dataclass(frozen=True)
class Task:
    name: str
    args: tuple

    def run(self):
        """Run it as a worker would (the same task code, in this process)."""
        return app.tasks[self.name].apply(args=self.args).get()


class QueuedTasks:
    """What was handed to the in-memory broker, queue by queue."""

    def take(self, queue: str | None = None) -> list[Task]:
        """Remove and return every task waiting in `queue` (default: the fulfilment queue)."""
        taken = []
        with app.connection_for_read() as connection:
            channel = connection.default_channel
            name = queue or settings.CELERY_FULFILMENT_QUEUE
            while (message := channel.basic_get(name, no_ack=True)) is not None:
                args, _kwargs, _embed = message.decode()
                taken.append(Task(message.headers["task"], tuple(args)))
        return taken


@pytest.fixture(name="queued")
def queued_fixture() -> Iterator[QueuedTasks]:
    """Tasks go to kombu's in-memory broker; nothing runs until the test runs it."""
    with broker("memory://"):
        queued = QueuedTasks()
        queued.take()  # an earlier test's leftovers (the memory transport lives per process)
        yield queued


@pytest.fixture(name="broker_down")
def broker_down_fixture() -> Iterator[None]:
    with broker(DEAD_BROKER):
        yield


@pytest.fixture(name="live")
def live_fixture(settings):
    """Real providers (TravelRoam configured, its last probe answered) and Stripe: nothing simulated,
    so health can say "healthy" (test_health.py, and the background tests' "degraded" by a late job)."""
    from django.core.cache import cache

    from pulse.services.providers import HEALTH_KEY

    settings.ESIM_SANDBOX = False
    settings.TRAVELROAM_API_KEY = "fake-travelroam-key"
    settings.TRAVELROAM_CLIENT_SECRET = "fake-travelroam-secret"
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    cache.set(HEALTH_KEY.format(name="travelroam"), True, 60)
