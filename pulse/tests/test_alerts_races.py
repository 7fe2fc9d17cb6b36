"""Two alert scanners at once never send an alert twice (issue 13): the `AlertSent` unique constraint
decides, not a cache flag. Real threads with their own database connections, released together; they
need a database every connection shares (PostgreSQL or a file SQLite: run with DATABASE_URL)."""

from __future__ import annotations

import threading

import pytest
from django.core import mail
from django.utils import timezone

from pulse.models import AlertSent
from pulse.services import alert_scan
from pulse.services.alert_scan import read_status, scan_alerts
from pulse.services.status import esim_status_check
from pulse.tests.alert_helpers import (  # noqa: F401 - alerts_env_fixture registers the fixture
    GERMANY,
    PORTUGAL,
    TURKEY,
    alerts_env_fixture,
    confirmed_subscription,
)
from pulse.tests.race_helpers import exceptions_in, run_together, skip_unless_shared_database

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("alerts_env")]


@pytest.fixture(autouse=True)
def _shared_database(transactional_db):
    skip_unless_shared_database()


def alert_emails():
    return [message for message in mail.outbox if "List-Unsubscribe" in message.extra_headers]


def test_two_concurrent_scans_send_each_alert_once():
    subscriptions = [
        confirmed_subscription(iccid, email=f"{name}@example.com")
        for name, iccid in (("a", PORTUGAL), ("b", GERMANY), ("c", TURKEY), ("d", GERMANY))
    ]
    results = run_together([scan_alerts, scan_alerts])
    assert not exceptions_in(results), results
    assert sum(result.emails for result in results) == 4
    assert sorted(message.to[0] for message in alert_emails()) == [
        "a@example.com",
        "b@example.com",
        "c@example.com",
        "d@example.com",
    ]
    assert AlertSent.objects.filter(lead=True).count() == len(subscriptions)


def test_the_database_constraint_decides_when_both_scanners_pass_the_check(monkeypatch):
    """Both scanners have read "not alerted yet" before either inserts: only one insert wins."""
    subscription = confirmed_subscription(GERMANY)
    result = esim_status_check(iccid=GERMANY)
    reading = read_status(result.public, timezone.now())
    real_claim = alert_scan.claim_alerts
    both_checked = threading.Barrier(2)

    def claim_after_both_checked(*args):
        both_checked.wait(timeout=30)
        return real_claim(*args)

    monkeypatch.setattr(alert_scan, "claim_alerts", claim_after_both_checked)
    now = timezone.now()
    results = run_together(
        [lambda: alert_scan.alert_if_crossed(subscription, reading, result, now) for _ in range(2)]
    )
    assert sorted(results) == [0, 2]  # one e-mail covering data_100 and data_80, one scanner lost
    assert len(alert_emails()) == 1
    assert AlertSent.objects.count() == 2
