"""Helpers for the usage-alert tests (docs/alerts.md). Fixtures under `*_fixture` names (ruff F811)."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone
from rest_framework.test import APIClient

from providers.sandbox import DEMO_ICCIDS, reset_default_world
from pulse.models import AlertSent, AlertSubscription
from pulse.services.alert_scan import scan_alerts

SUBSCRIBE = "/api/esim/alerts/"
PORTUGAL = DEMO_ICCIDS["travelroam_85pct_portugal"]  # 85 % of 3 GB used, 10 days left
NETHERLANDS = DEMO_ICCIDS["travelroam_ending_netherlands"]  # 40 % used, ends tomorrow
GERMANY = DEMO_ICCIDS["travelroam_depleted_germany"]  # used up within validity
TURKEY = DEMO_ICCIDS["travelroam_expired_turkey"]  # used up and expired
UNKNOWN = DEMO_ICCIDS["unknown_everywhere"]
REVOKED = DEMO_ICCIDS["esimcard_revoked_france"]
EMAIL = "traveller@example.com"
LINK = re.compile(r"https://api\.example\.test/api/esim/alerts/(confirm|unsubscribe)/([^/\s]+)/")


@pytest.fixture(name="alerts_env")
def alerts_env_fixture(settings):
    """Fresh simulators, an empty cache and roomy alert settings."""
    settings.ESIM_SANDBOX = True
    settings.ALERT_PROVIDER_BUDGET = 1000
    settings.ALERT_SCAN_INTERVAL = 3600
    settings.FRONTEND_URL = "https://shop.example.test"
    world = reset_default_world()
    cache.clear()
    yield world
    reset_default_world()
    cache.clear()


def subscribe(client: APIClient | None = None, **body):
    body = {"iccid": PORTUGAL, "email": EMAIL, **body}
    return (client or APIClient()).post(SUBSCRIBE, body, format="json")


def links(message, kind: str) -> list[str]:
    """The links of one kind in an e-mail's text body (as the customer's mail program shows them)."""
    return [match.group(0) for match in LINK.finditer(message.body) if match.group(1) == kind]


def path_of(url: str) -> str:
    return url.removeprefix("https://api.example.test")


def confirmed_subscription(iccid: str = PORTUGAL, email: str = EMAIL, **body) -> AlertSubscription:
    """Subscribe and confirm through the API, as a customer does; the outbox is emptied."""
    assert subscribe(iccid=iccid, email=email, **body).status_code == 202
    confirm = links(mail.outbox[-1], "confirm")[0]
    assert APIClient().get(path_of(confirm)).status_code == 200
    mail.outbox.clear()
    return AlertSubscription.objects.get(iccid=iccid, email=email)


def scan_later(hours: float = 0, *, now: datetime | None = None):
    """A pass `hours` from now, with a cold status cache (so the providers are asked again)."""
    cache.clear()
    return scan_alerts(now=(now or timezone.now()) + timedelta(hours=hours))


_addresses = itertools.count()


def alert_email_sent(iccid: str, sent_at: datetime, *, thresholds=("data_80",)) -> AlertSubscription:
    """One alert e-mail already sent (the log rows a scan writes: the first threshold leads), on a
    subscription of its own, for tests of the figures built on the alert log."""
    subscription = AlertSubscription.objects.create(
        iccid=iccid, email=f"sent{next(_addresses)}@example.com", thresholds=list(thresholds), nonce="n"
    )
    for index, code in enumerate(thresholds):
        AlertSent.objects.create(
            subscription=subscription,
            iccid=iccid,
            period_key=f"p-{sent_at:%Y%m%d}",
            threshold=code,
            lead=index == 0,
            sent_at=sent_at,
        )
    return subscription
