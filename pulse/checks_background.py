"""System checks for background work (`manage.py check`, `check --deploy`); docs/background.md.

Kept apart from `pulse/checks.py` (the other production checks) so each stays about one thing.
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

TAG = "background"


@register(TAG, deploy=True)
def check_broker_for_production(app_configs=None, **kwargs):
    """The file-system broker is for one machine: web and worker must share the folder."""
    if settings.DEBUG or not str(settings.CELERY_BROKER_URL).startswith("filesystem"):
        return []
    return [
        Warning(
            "Background tasks go through the file-system broker in "
            f"{settings.CELERY_FILESYSTEM_DIR}, which only works when every web process and worker "
            "runs on this machine.",
            hint="Set CELERY_BROKER_URL (or REDIS_URL) to a Redis or RabbitMQ URL that every web "
            "process and worker reaches.",
            id="background.W001",
        )
    ]


@register(TAG)
def check_time_limits(app_configs=None, **kwargs):
    errors = []
    if settings.CELERY_FULFIL_TIME_LIMIT >= settings.FULFILMENT_LEASE_SECONDS:
        errors.append(
            Error(
                f"CELERY_FULFIL_TIME_LIMIT ({settings.CELERY_FULFIL_TIME_LIMIT}s) is not below "
                f"FULFILMENT_LEASE_SECONDS ({settings.FULFILMENT_LEASE_SECONDS}s): a slow top-up could "
                "still be running when the reconciler takes its order over.",
                hint="Lower CELERY_FULFIL_TIME_LIMIT or raise FULFILMENT_LEASE_SECONDS.",
                id="background.E001",
            )
        )
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout")
    longest = max(settings.CELERY_TASK_TIME_LIMIT, settings.CELERY_FULFIL_TIME_LIMIT)
    if visibility and longest >= visibility:
        errors.append(
            Error(
                f"A task may run longer ({longest}s) than Redis keeps it "
                f"reserved ({visibility}s): it would be handed to a second worker while it runs.",
                hint=f"Keep CELERY_TASK_TIME_LIMIT and CELERY_FULFIL_TIME_LIMIT below {visibility}.",
                id="background.E002",
            )
        )
    return errors


@register(TAG)
def check_confirm_wait(app_configs=None, **kwargs):
    if settings.CONFIRM_FULFIL_AFTER_SECONDS <= settings.CONFIRM_WAIT_SECONDS:
        return []
    return [
        Warning(
            f"CONFIRM_FULFIL_AFTER_SECONDS ({settings.CONFIRM_FULFIL_AFTER_SECONDS}) is longer than "
            f"CONFIRM_WAIT_SECONDS ({settings.CONFIRM_WAIT_SECONDS}): confirm-payment stops waiting "
            "before it would place a top-up no worker claimed, so without a worker the customer "
            "sees PAID until the reconciler runs.",
            hint="Make CONFIRM_FULFIL_AFTER_SECONDS at most CONFIRM_WAIT_SECONDS.",
            id="background.W002",
        )
    ]
