"""Health of the service: database, cache and the providers' last known state.

Provider state never costs a paid call per request: it comes from cached probes and breaker
state (see `pulse.services.providers.provider_health`).

A service that runs on the simulated providers or the no-money sandbox gateway is never "healthy":
it answers, but not with real eSIMs or real payments, and a monitor must be able to tell (`mode`).
Neither is one whose customer e-mails have been failing for over an hour (`emails`).
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

from pulse.services.emails import overdue_emails
from pulse.services.providers import breaker_states, provider_health

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
    breakers = breaker_states()  # read once: health is polled often
    apis = provider_health(breakers)
    # A provider that is configured but failing degrades the service; one not configured does not.
    provider_down = any(state is False for state in apis.values())
    mode = service_mode()
    emails = email_health(database)
    if database != "ok":
        status = "unhealthy"
    elif cache_state != "ok" or provider_down or in_sandbox(mode) or emails["overdue"]:
        status = "degraded"
    else:
        status = "healthy"
    return HealthReport(status, timezone.now(), database, cache_state, apis, breakers, mode, emails)
