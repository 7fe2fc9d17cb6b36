"""Usage and expiry alerts (docs/alerts.md): who watches which eSIM, and which alert went out.

`AlertSubscription` is one e-mail address watching one eSIM (double opt-in). `AlertSent` is the
alert log and the once-only guard: one row per subscription, plan period and threshold, enforced by
a unique constraint, inserted before the e-mail is sent.
"""

from django.db import models
from django.db.models import Q


class Threshold(models.TextChoices):
    """The alerts a customer can ask for, most severe first (an e-mail is led by the most severe)."""

    EXPIRED = "expired", "Plan expired"
    DATA_100 = "data_100", "Data used up"
    EXPIRY_72H = "expiry_72h", "Plan ends within 72 hours"
    DATA_80 = "data_80", "80 % of the data used"


SEVERITY = list(Threshold)  # declaration order: most severe first


class EndReason(models.TextChoices):
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    ESIM_GONE = "esim_gone", "eSIM revoked or unknown for 7 days"
    MAX_AGE = "max_age", "Reached ALERT_MAX_DAYS"


class AlertSubscription(models.Model):
    """One address watching one eSIM. Pending (unconfirmed) rows are deleted after 48 hours; an ended
    subscription keeps no e-mail address (its row stays, anonymised, for the conversion figure)."""

    iccid = models.CharField("ICCID", max_length=22, db_index=True)
    email = models.EmailField(max_length=254, blank=True)
    thresholds = models.JSONField(default=list, help_text="Threshold codes asked for.")
    nonce = models.CharField(max_length=32, help_text="Part of the signed links: a new one voids old links.")
    created_at = models.DateTimeField(auto_now_add=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    next_scan_at = models.DateTimeField(null=True, blank=True)
    last_scan_at = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, blank=True, help_text="status_code at the last scan")
    last_alert_at = models.DateTimeField(null=True, blank=True)
    gone_since = models.DateTimeField(
        null=True, blank=True, help_text="Since when the eSIM is revoked or unknown (7 days end it)."
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, choices=EndReason.choices, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["iccid", "email"],
                condition=Q(ended_at__isnull=True),
                name="alert_subscription_live_unique",
            )
        ]
        indexes = [
            # The scanner's query: confirmed, live, due first.
            models.Index(fields=["ended_at", "confirmed_at", "next_scan_at"], name="alertsub_due"),
        ]
        ordering = ["-created_at"]
        verbose_name = "alert subscription"

    def __str__(self) -> str:
        return f"{self.iccid[:6]}…{self.iccid[-4:]}"

    @property
    def confirmed(self) -> bool:
        return self.confirmed_at is not None


class AlertSent(models.Model):
    """One threshold alerted for one subscription in one plan period (the alert log).

    The unique constraint is the once-only guarantee: a scanner inserts the rows of an e-mail in one
    transaction before sending it, and sends only when the insert won. `lead` marks the threshold that
    led its e-mail (one per e-mail; the conversion figure counts e-mails). `sent_at` is empty until the
    e-mail went out; a row whose e-mail failed is deleted so the next scan tries again.
    """

    subscription = models.ForeignKey(AlertSubscription, on_delete=models.CASCADE, related_name="alerts")
    iccid = models.CharField("ICCID", max_length=22, db_index=True)
    period_key = models.CharField(max_length=255, help_text="The plan period: bundle, start and end.")
    threshold = models.CharField(max_length=16, choices=Threshold.choices)
    lead = models.BooleanField(default=False, help_text="The threshold that led its e-mail.")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "period_key", "threshold"], name="alert_sent_once_per_period"
            )
        ]
        ordering = ["-created_at"]
        verbose_name = "alert sent"
        verbose_name_plural = "alert log"

    def __str__(self) -> str:
        return f"{self.get_threshold_display()} for {self.iccid[:6]}…{self.iccid[-4:]}"


class AlertBudgetMinute(models.Model):
    """Provider lookups the alert scanner used in one minute, shared by every scanner process: a
    compare-and-set on `used` keeps the total under ALERT_PROVIDER_BUDGET whatever runs at once."""

    minute = models.DateTimeField(unique=True)
    used = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.minute:%Y-%m-%d %H:%M}: {self.used}"
