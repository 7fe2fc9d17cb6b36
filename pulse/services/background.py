"""Handing work to the Celery worker, and whether the broker can be reached (docs/background.md).

A publish never holds a request for long: it is retried once and bounded by the broker connection
timeout. When it fails (broker down), the caller goes on: a PAID order whose task was lost is
fulfilled by the reconciler after RECONCILER_STUCK_AFTER_SECONDS, or by confirm-payment at once.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from kombu import Connection

from pulse.services.safe_cache import safe_cache

logger = logging.getLogger(__name__)

BROKER_HEALTH_KEY = "background:broker-health"
BROKER_HEALTH_TTL = 30  # seconds one broker probe stands for every process


def _celery_app():
    from esim_status_checker.celery import app

    return app


def enqueue_fulfilment(order_pk: int) -> bool:
    """Ask a worker to place the order's top-up once the current transaction has committed.

    True when the task was handed to the broker now; False when that failed, or when it waits for an
    outer transaction to commit (no worker can have it yet).
    """
    from pulse.tasks import fulfil_order

    return publish_after_commit(
        fulfil_order, order_pk, about=f"order {order_pk}", if_lost="the reconciler will pick it up"
    )


def publish_after_commit(task, *args, about: str, if_lost: str) -> bool:
    """`publish`, once the current transaction (if any) has committed; False while it waits for that.

    An eager task (unit tests) runs here, on this connection, and sees this transaction's writes;
    a worker reads the database from another process and must not get the task before the commit.
    """
    if connection.in_atomic_block and not _celery_app().conf.task_always_eager:
        transaction.on_commit(lambda: publish(task, *args, about=about, if_lost=if_lost))
        return False
    return publish(task, *args, about=about, if_lost=if_lost)


def publish(task, *args, about: str, if_lost: str) -> bool:
    """Send `task(*args)` to the broker; False (logged) when the broker cannot be reached in time.

    The log line names the task, `about` (what it concerns, already masked: the arguments may hold an
    ICCID or an e-mail address, so they are never logged) and `if_lost` (what happens instead)."""
    app = _celery_app()
    if app.conf.task_always_eager:  # unit tests: the task runs here and now, errors propagate
        task.apply_async(args=args)
        return True
    try:
        task.apply_async(args=args, retry=True, retry_policy=_retry_policy())
    except Exception as exc:  # any transport error: the broker is down, refusing or too slow
        logger.warning(
            "could not hand %s (%s) to the broker (%s: %s); %s",
            task.name,
            about,
            type(exc).__name__,
            exc,
            if_lost,
        )
        return False
    return True


def _retry_policy() -> dict:
    # One retry, right away: a dropped pooled connection reconnects; a broker that is down fails fast.
    return {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def broker_status() -> str:
    """ "ok" or "error" (cached for BROKER_HEALTH_TTL seconds), or "eager" when tasks run inline."""
    app = _celery_app()
    if app.conf.task_always_eager:
        return "eager"
    cached = safe_cache.get(BROKER_HEALTH_KEY)
    if cached is not None:
        return cached
    status = "ok" if _broker_reachable(app.conf.broker_url) else "error"
    safe_cache.set(BROKER_HEALTH_KEY, status, BROKER_HEALTH_TTL)
    return status


def _broker_reachable(url: str) -> bool:
    if url.startswith("filesystem"):
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
        return folder.is_dir() and _writable(folder)
    timeout = settings.CELERY_BROKER_CONNECTION_TIMEOUT
    try:
        with Connection(
            url,
            connect_timeout=timeout,
            transport_options={**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "socket_timeout": timeout},
        ) as conn:
            conn.ensure_connection(max_retries=0, timeout=timeout)
            conn.default_channel  # noqa: B018 - Redis connects lazily: opening a channel talks to it
    except Exception as exc:  # any transport error means "unreachable" for a health probe
        logger.warning("health: broker unreachable (%s: %s)", type(exc).__name__, exc)
        return False
    return True


def _writable(folder: Path) -> bool:
    import os

    return os.access(folder, os.W_OK)
