from decimal import Decimal

from django.db import models

from pulse.models.esims import ProviderName


class ProviderSalesPause(models.Model):
    """The sales guard of one provider (docs/operations.md, "Provider wallets and the sales pause").

    One row per provider, created on first use. `paused` is the truth every create and options read
    consults (through a short cache); transitions are compare-and-set updates (`pulse.services.wallets`)
    so that of several workers seeing the wallet run dry at once exactly one pauses and tells staff.
    The last wallet read and the low-balance warning state live here too.
    """

    class Cause(models.TextChoices):
        INSUFFICIENT_FUNDS = "insufficient_funds", "a top-up was refused: wallet empty"
        LOW_BALANCE = "low_balance", "a balance read was below the cheapest bundle"
        STAFF = "staff", "paused by staff"

    provider = models.CharField(max_length=16, choices=ProviderName.choices, unique=True)
    paused = models.BooleanField(default=False)
    cause = models.CharField(max_length=32, choices=Cause.choices, blank=True)
    reason = models.CharField(max_length=500, blank=True, help_text="Why sales were paused, for staff.")
    since = models.DateTimeField(null=True, blank=True, help_text="When the current pause began.")
    resume_at_balance = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="A balance read of at least this much (in resume_currency) resumes sales by itself.",
    )
    resume_currency = models.CharField(max_length=3, blank=True)
    alert_sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When staff were e-mailed about the current pause."
    )
    pauses = models.PositiveIntegerField(default=0, help_text="How many times sales were paused.")
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.CharField(max_length=150, blank=True, help_text="check_wallets or a staff user.")
    last_balance = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    balance_currency = models.CharField(max_length=3, blank=True)
    balance_read_at = models.DateTimeField(null=True, blank=True)
    balance_error = models.CharField(max_length=300, blank=True, help_text="Why the last read failed.")
    low_balance_warned_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the balance fell below WALLET_WARN_BELOW and staff were told; cleared above it.",
    )

    class Meta:
        verbose_name = "provider wallet and sales pause"
        verbose_name_plural = "provider wallets and sales pauses"
        ordering = ["provider"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(resume_at_balance__isnull=True)
                | models.Q(resume_at_balance__gte=Decimal(0)),
                name="salespause_resume_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}: {'PAUSED' if self.paused else 'selling'}"
