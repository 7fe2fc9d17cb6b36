"""What the usage alerts achieve (docs/alerts.md, "The figure resellers care about").

`alert_renewal_conversion(since, until)`: of the alert e-mails sent in [since, until), how many were
followed within 7 days by a paid renewal order of the same eSIM. An e-mail counts once however many
thresholds it covered (its `lead` row). "Paid" is an order with `paid_at` set: it includes orders
later completed, refunded or in review, because the customer acted on the alert either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef

from pulse.models import AlertSent, RenewalOrder

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
