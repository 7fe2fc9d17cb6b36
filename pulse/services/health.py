"""Health of the service: database, cache, the providers' last known state and the background side.

Provider state never costs a paid call per request: it comes from cached probes and breaker
state (see `pulse.services.providers.provider_health`).

A service that runs on the simulated providers or the no-money sandbox gateway is never "healthy":
it answers, but not with real eSIMs or real payments, and a monitor must be able to tell (`mode`).
Neither is one whose customer e-mails have been failing for over an hour (`emails`), nor one whose
broker is unreachable or whose scheduled jobs are late (`background`: the broker probe is cached like
the providers', `pulse.services.background.broker_status`; jobs are read from their recorded runs), nor
one with a provider's sales paused because its wallet ran dry (`wallets`, pulse.services.wallets).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from pulse.formatting import iso_utc
from pulse.services.background import broker_status
from pulse.services.emails import overdue_emails
from pulse.services.jobs import job_states
from pulse.services.providers import breaker_states, provider_health
from pulse.services.wallets import wallet_health

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HealthReport:
    status: str  # healthy | degraded | unhealthy
    timestamp: datetime
    database: str
    cache: str
    apis: dict[str, object]
    circuit_breakers: dict[str, str]
    mode: dict[str, str]
    emails: dict[str, object]
    background: dict[str, object]
    wallets: dict[str, object]


def check_database() -> str:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any driver error means "down" for a health probe
        logger.exception("health: database check failed")
        return "error"
    return "ok"


def check_cache() -> str:
    key = f"health:{uuid.uuid4().hex}"
    try:
        cache.set(key, "1", timeout=5)
        ok = cache.get(key) == "1"
        cache.delete(key)
    except Exception:  # a cache outage must not break the probe itself
        logger.exception("health: cache check failed")
        return "error"
    return "ok" if ok else "error"


def check_background() -> tuple[dict[str, object], bool]:
    """The broker and each scheduled job; True when something there degrades the service."""
    broker = broker_status()
    try:
        states = job_states()
    except Exception:  # the database check reports the cause; health must still answer
        logger.exception("health: could not read job runs")
        return {"broker": broker, "jobs": "error"}, True
    jobs = {
        state.name: {
            "state": state.state,
            "last_success": iso_utc(state.last_success),
            "last_run_ok": state.last_run_ok,
            "interval_seconds": int(state.interval_seconds),
        }
        for state in states
    }
    degraded = broker == "error" or any(state.late for state in states)
    return {"broker": broker, "jobs": jobs}, degraded


def service_mode() -> dict[str, str]:
    """Real or simulated: where eSIM answers and payments come from."""
    return {
        "providers": "sandbox" if settings.ESIM_SANDBOX else "live",
        "payments": settings.PAYMENT_GATEWAY,
    }


def in_sandbox(mode: dict[str, str]) -> bool:
    return mode["providers"] == "sandbox" or mode["payments"] == "sandbox"


def email_health(database: str) -> dict[str, object]:
    """Customer e-mails failing for over an hour: how many, and since when the oldest fails."""
    if database != "ok":
        return {"overdue": None, "failing_since": None}
    count, since = overdue_emails()
    return {"overdue": count, "failing_since": since}


def health_report() -> HealthReport:
    database = check_database()
    cache_state = check_cache()
    background, background_degraded = check_background()
    breakers = breaker_states()  # read once: health is polled often
    apis = provider_health(breakers)
    # A provider that is configured but failing degrades the service; one not configured does not.
    provider_down = any(state is False for state in apis.values())
    mode = service_mode()
    emails = email_health(database)
    wallets, sales_paused = wallet_state(database)
    if database != "ok":
        status = "unhealthy"
    elif (
        cache_state != "ok"
        or provider_down
        or in_sandbox(mode)
        or emails["overdue"]
        or background_degraded
        or sales_paused
    ):
        status = "degraded"
    else:
        status = "healthy"
    return HealthReport(
        status, timezone.now(), database, cache_state, apis, breakers, mode, emails, background, wallets
    )


def wallet_state(database: str) -> tuple[dict[str, object], bool]:
    """Each provider's sales (open / paused) and wallet read; True when a provider is paused."""
    if database != "ok":
        return {}, False
    try:
        return wallet_health()
    except Exception:  # the database check reports the cause; health must still answer
        logger.exception("health: could not read the wallets")
        return {"error": True}, True
