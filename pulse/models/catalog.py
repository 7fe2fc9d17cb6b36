from decimal import Decimal

from django.db import models

from pulse.models.esims import ProviderName


class Bundle(models.Model):
    """A bundle a provider sells, as last synced from its catalogue (`manage.py sync_catalog`).

    `cost` is what the provider charges us, in `cost_currency`. The retail price is derived at quote
    time (cost x markup, converted, rounded) unless staff set `retail_price_override`.
    """

    provider = models.CharField(max_length=16, choices=ProviderName.choices)
    code = models.CharField(max_length=128, help_text="The provider's bundle / package / plan code.")
    description = models.CharField(max_length=255, blank=True)
    countries = models.JSONField(default=list, blank=True, help_text="ISO 3166-1 alpha-2 codes covered.")
    region = models.CharField(max_length=64, blank=True)
    data_bytes = models.BigIntegerField(
        null=True, blank=True, help_text="Decimal bytes; empty when unlimited."
    )
    unlimited = models.BooleanField(default=False)
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=12, decimal_places=4)
    cost_currency = models.CharField(max_length=3, default="USD")
    package_id = models.CharField(
        max_length=128, blank=True, help_text="eSIMCard package_type_id / AirHub plan."
    )
    retail_price_override = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="Staff-set retail price; replaces cost x markup.",
    )
    override_currency = models.CharField(max_length=3, blank=True, help_text="Currency of the override.")
    active = models.BooleanField(default=True, help_text="Off when the provider no longer lists it.")
    synced_at = models.DateTimeField(help_text="Last time the provider listed this bundle.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "code"], name="bundle_unique_code_per_provider"),
            models.CheckConstraint(
                condition=models.Q(cost__gte=Decimal("0")), name="bundle_cost_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(retail_price_override__isnull=True)
                | models.Q(retail_price_override__gt=0),
                name="bundle_override_positive",
            ),
        ]
        indexes = [models.Index(fields=["provider", "active"])]
        ordering = ["provider", "code"]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.code}"

    def clean(self):
        from django.core.exceptions import ValidationError

        if self.retail_price_override is not None and not self.override_currency:
            raise ValidationError({"override_currency": "Say which currency the override is in."})


class CatalogSync(models.Model):
    """One run of the catalogue sync for one provider (shown in the admin)."""

    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        FAILED = "failed", "Failed (last good catalogue kept)"

    provider = models.CharField(max_length=16, choices=ProviderName.choices)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    added = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    deactivated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.provider} sync {self.started_at:%Y-%m-%d %H:%M} {self.outcome}"


class ExchangeRate(models.Model):
    """The last good rate per currency pair: what conversions fall back to when the API fails."""

    base = models.CharField(max_length=3)
    quote = models.CharField(max_length=3)
    rate = models.DecimalField(max_digits=20, decimal_places=10)
    source = models.CharField(max_length=32, default="currencyfreaks")
    fetched_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["base", "quote"], name="exchange_rate_unique_pair"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchange_rate_positive"),
        ]
        ordering = ["base", "quote"]

    def __str__(self) -> str:
        return f"1 {self.base} = {self.rate} {self.quote}"
