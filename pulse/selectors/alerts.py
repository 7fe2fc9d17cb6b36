"""What the usage alerts achieve (docs/alerts.md, "The figure resellers care about").

`alert_renewal_conversion(since, until)`: of the alert e-mails sent in [since, until), how many were
followed within 7 days by a paid renewal order of the same eSIM. An e-mail counts once however many
thresholds it covered (its `lead` row). "Paid" is an order with `paid_at` set: it includes orders
later completed, refunded or in review, because the customer acted on the alert either way.

`subscriptions_for_iccid(iccid)`: the eSIM's subscriptions for the staff support page, each with its
e-mail address masked (`mask_email`: the first character of the local part, `***`, and the whole
domain, e.g. `t***@example.com`) so staff can recognise the caller's address without the page
spraying full addresses into screenshots and screen shares. The full address stays in the alert
subscription admin, for the few who may see it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef

from pulse.models import AlertSent, AlertSubscription, RenewalOrder
from pulse.models.alerts import Threshold

MAX_SUBSCRIPTIONS = 50

FOLLOW_UP_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class AlertConversion:
    alerts_sent: int
    followed_by_renewal: int

    @property
    def share(self) -> float | None:
        """followed_by_renewal / alerts_sent, None when no alert was sent."""
        return self.followed_by_renewal / self.alerts_sent if self.alerts_sent else None

    def line(self) -> str:
        if not self.alerts_sent:
            return "no alert e-mails sent"
        return (
            f"{self.followed_by_renewal} of {self.alerts_sent} alert e-mails "
            f"({self.share:.0%}) followed by a paid renewal within 7 days"
        )


def alert_renewal_conversion(since: datetime, until: datetime) -> AlertConversion:
    emails = AlertSent.objects.filter(lead=True, sent_at__gte=since, sent_at__lt=until)
    renewed = RenewalOrder.objects.filter(
        iccid=OuterRef("iccid"),
        paid_at__gte=OuterRef("sent_at"),
        paid_at__lte=OuterRef("sent_at") + FOLLOW_UP_WINDOW,
    )
    counted = emails.annotate(renewed=Exists(renewed))
    return AlertConversion(
        alerts_sent=counted.count(), followed_by_renewal=counted.filter(renewed=True).count()
    )


def mask_email(email: str) -> str:
    """`traveller@example.com` -> `t***@example.com`; an ended subscription's deleted address -> ""."""
    local, at, domain = (email or "").partition("@")
    if not at:
        return "***" if local else ""
    return f"{local[:1]}***@{domain}"


@dataclass(frozen=True)
class SubscriptionRow:
    """One subscription as the support page shows it (never the full e-mail address)."""

    email_masked: str
    thresholds: tuple[str, ...]  # human labels, most severe first
    created_at: datetime
    confirmed_at: datetime | None
    last_scan_at: datetime | None
    last_status: str
    last_alert_at: datetime | None
    ended_at: datetime | None
    end_reason: str  # human label, "" while live


def subscriptions_for_iccid(iccid: str, limit: int = MAX_SUBSCRIPTIONS) -> list[SubscriptionRow]:
    """The eSIM's usage-alert subscriptions, newest first (live, pending and ended alike)."""
    labels = dict(Threshold.choices)
    order = {code: index for index, code in enumerate(labels)}
    rows = []
    for subscription in AlertSubscription.objects.filter(iccid=iccid).order_by("-created_at", "-pk")[:limit]:
        codes = sorted(subscription.thresholds or [], key=lambda code: order.get(code, len(order)))
        rows.append(
            SubscriptionRow(
                email_masked=mask_email(subscription.email),
                thresholds=tuple(labels.get(code, code) for code in codes),
                created_at=subscription.created_at,
                confirmed_at=subscription.confirmed_at,
                last_scan_at=subscription.last_scan_at,
                last_status=subscription.last_status,
                last_alert_at=subscription.last_alert_at,
                ended_at=subscription.ended_at,
                end_reason=subscription.get_end_reason_display() if subscription.ended_at else "",
            )
        )
    return rows
