"""Celery tasks (docs/background.md). Thin: each calls one service.

Every task is safe to run twice, which Celery's at-least-once delivery (acks late, redelivery when
a worker dies) requires: `fulfil_order` claims the order with the compare-and-set PAID -> FULFILLING,
so a second delivery or a second worker finds it claimed and does nothing; scheduled jobs hold a
lease (`pulse.services.jobs.job_lease`) and their work is itself idempotent.

Metrics (`esim_task_runs_total` and co., pulse/metrics.py): a task marked `records_job_run=True` runs a
scheduled job, whose run `record_job_run` counts under the job's name; every other task is counted by
Celery's task signals under its own short name (`fulfil_order`), so no run is counted twice.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings

from pulse.models import OrderStatus, RenewalOrder
from pulse.services import fulfilment, jobs

logger = logging.getLogger(__name__)


@shared_task(
    name="pulse.tasks.fulfil_order",
    time_limit=settings.CELERY_FULFIL_TIME_LIMIT,
    soft_time_limit=max(settings.CELERY_FULFIL_TIME_LIMIT - 10, 1),
)
def fulfil_order(order_pk: int) -> str:
    """Place the top-up of a PAID order; a no-op for an order someone else claimed or finished."""
    order = RenewalOrder.objects.filter(pk=order_pk).first()
    if order is None:
        logger.warning("fulfil_order: no order %s", order_pk)
        return "missing"
    if order.status != OrderStatus.PAID:
        logger.info("fulfil_order: order %s is %s; nothing to do", order.order_id, order.status)
        return order.status
    claimed = fulfilment.fulfil(order, by="worker")
    order.refresh_from_db(fields=["status"])
    return order.status if claimed else f"claimed elsewhere ({order.status})"


def _run(name: str) -> str:
    outcome = jobs.run_job(name)
    return "skipped" if outcome is None else ("ok" if outcome.ok else "failed")


@shared_task(name="pulse.tasks.reconcile", records_job_run=True)
def reconcile() -> str:
    return _run("reconciler")


@shared_task(name="pulse.tasks.send_due_emails", records_job_run=True)
def send_due_emails() -> str:
    return _run("email_sweep")


@shared_task(name="pulse.tasks.rebuild_esim_index", records_job_run=True)
def rebuild_esim_index() -> str:
    return _run("esim_index")


@shared_task(name="pulse.tasks.flush_lookup_stats", records_job_run=True)
def flush_lookup_stats() -> str:
    return _run("lookup_stats")


@shared_task(name="pulse.tasks.check_wallets", records_job_run=True)
def check_wallets() -> str:
    return _run("check_wallets")


@shared_task(name="pulse.tasks.sync_catalogue", records_job_run=True)
def sync_catalogue(provider: str) -> str:
    return _run(f"{jobs.CATALOG_PREFIX}{provider}")


@shared_task(name="pulse.tasks.scan_alerts", records_job_run=True)
def scan_alerts() -> str:
    return _run("alert_scan")


@shared_task(name="pulse.tasks.alert_subscription_request")
def alert_subscription_request(iccid: str, email: str, thresholds: list[str]) -> str:
    """The worker's half of `POST alerts/`: confirmation e-mail only when a provider knows the eSIM
    (a second delivery finds the pending subscription and does not e-mail again within 10 minutes)."""
    from pulse.services.alerts import alert_subscription_request as request_subscription

    return request_subscription(iccid=iccid, email=email, thresholds=thresholds)
