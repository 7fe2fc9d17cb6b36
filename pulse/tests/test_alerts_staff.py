"""Usage alerts for staff: the admin lists (masked ICCIDs, the alert log), the unsubscribe action, and
the conversion figure `pulse.selectors.alerts.alert_renewal_conversion` (docs/alerts.md)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from pulse.models import OrderStatus, RenewalOrder
from pulse.selectors.alerts import alert_renewal_conversion
from pulse.services.alert_scan import scan_alerts
from pulse.tests.alert_helpers import (  # noqa: F401 - alerts_env_fixture registers the fixture
    EMAIL,
    GERMANY,
    PORTUGAL,
    TURKEY,
    alert_email_sent,
    alerts_env_fixture,
    confirmed_subscription,
)
from pulse.tests.staff_helpers import staff_client_fixture, staff_user_fixture  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("alerts_env")]


def _order(iccid: str, paid_at, status=OrderStatus.COMPLETED) -> RenewalOrder:
    return RenewalOrder.objects.create(
        status=status,
        iccid=iccid,
        provider="travelroam",
        bundle_code="esim_1GB_7D_DE_V2",
        bundle_name="eSIM, 1GB, 7 Days, Germany, V2",
        provider_cost=Decimal("1.60"),
        provider_cost_currency="USD",
        amount=Decimal("2.08"),
        currency="USD",
        gateway="sandbox",
        paid_at=paid_at,
    )


def test_conversion_counts_alert_e_mails_followed_by_a_paid_renewal_within_7_days():
    now = timezone.now()
    alert_email_sent(GERMANY, now - timedelta(days=10))  # renewed 2 days later: counts
    _order(GERMANY, now - timedelta(days=8))
    alert_email_sent(PORTUGAL, now - timedelta(days=20))  # renewed 9 days later: too late
    _order(PORTUGAL, now - timedelta(days=11))
    alert_email_sent(
        TURKEY, now - timedelta(days=5), thresholds=("expired",)
    )  # an unpaid order: does not count
    _order(TURKEY, None, status=OrderStatus.PENDING)
    alert_email_sent("8944000000000000100", now - timedelta(days=40))  # outside the window asked for
    _order("8944000000000000100", now - timedelta(days=39))
    result = alert_renewal_conversion(now - timedelta(days=30), now)
    assert (result.alerts_sent, result.followed_by_renewal) == (3, 1)
    assert result.share == pytest.approx(1 / 3)
    # An order paid BEFORE the alert is not a renewal the alert brought.
    _order(TURKEY, now - timedelta(days=6))
    assert alert_renewal_conversion(now - timedelta(days=30), now).followed_by_renewal == 1
    assert alert_renewal_conversion(now - timedelta(days=1), now).share is None


def test_admin_lists_subscriptions_with_masked_iccids_and_the_alert_log_with_the_figure(staff_client):
    confirmed_subscription(GERMANY)
    scan_alerts()
    page = staff_client.get("/admin/pulse/alertsubscription/").content.decode()
    assert "894400*********0308" in page
    assert GERMANY not in page
    assert EMAIL in page
    log = staff_client.get("/admin/pulse/alertsent/").content.decode()
    assert "Data used up" in log
    assert "0 of 1 alert e-mails (0%) followed by a paid renewal within 7 days" in log


def test_staff_can_unsubscribe_a_customer_which_deletes_the_address(staff_client):
    subscription = confirmed_subscription()
    response = staff_client.post(
        "/admin/pulse/alertsubscription/",
        {"action": "unsubscribe", "_selected_action": [subscription.pk]},
        follow=True,
    )
    assert response.status_code == 200
    subscription.refresh_from_db()
    assert (subscription.email, subscription.end_reason) == ("", "unsubscribed")
