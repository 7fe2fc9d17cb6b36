"""What the staff overview and the eSIM support page keep (docs/operations.md, "Overview").

- `ProviderLookupHour`: status lookups per provider per hour (calls, failures, a fixed latency
  histogram), written by `pulse.services.lookup_stats` off the request path. The Prometheus metrics
  are not a store: these rows are what the overview's availability and p95 latency are read from.
- `InstallCodeShown`: the audit trail of "Show install code": who asked, when, for which eSIM (masked
  ICCID). The code itself is never stored. Its `Meta.permissions` holds the dedicated permission.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from pulse.models.esims import ProviderName

# Upper bounds of the latency buckets, milliseconds; the last bucket has no upper bound.
LATENCY_BUCKETS_MS: tuple[int, ...] = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 8000, 15000)
BUCKET_FIELDS: tuple[str, ...] = (*(f"le_{bound}ms" for bound in LATENCY_BUCKETS_MS), "le_inf")


class ProviderLookupHour(models.Model):
    """One provider's status lookups in one hour (UTC): how many, how many failed, how long they took.

    A lookup fails when the provider could not answer (`error:<code>`); "found" and "not found" are
    answers. Written by increments (F() + n), so several processes add to one row safely.
    """

    provider = models.CharField(max_length=16, choices=ProviderName.choices)
    hour = models.DateTimeField(help_text="Start of the hour, UTC.")
    calls = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    seconds_sum = models.FloatField(default=0.0, help_text="Total lookup time, for the mean.")
    # The latency histogram: one counter per bucket of LATENCY_BUCKETS_MS (not cumulative).
    le_50ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 50 ms.")
    le_100ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 100 ms.")
    le_200ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 200 ms.")
    le_300ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 300 ms.")
    le_500ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 500 ms.")
    le_750ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 750 ms.")
    le_1000ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 1000 ms.")
    le_1500ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 1500 ms.")
    le_2000ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 2000 ms.")
    le_3000ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 3000 ms.")
    le_5000ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 5000 ms.")
    le_8000ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 8000 ms.")
    le_15000ms = models.PositiveIntegerField(default=0, help_text="Lookups of at most 15000 ms.")
    le_inf = models.PositiveIntegerField(default=0, help_text="Lookups over 15000 ms.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "hour"], name="lookup_hour_unique_provider_hour")
        ]
        indexes = [models.Index(fields=["hour"], name="lookup_hour_hour")]
        ordering = ["-hour", "provider"]
        verbose_name = "provider lookups per hour"
        verbose_name_plural = "provider lookups per hour"

    def __str__(self) -> str:
        return f"{self.provider} {self.hour:%Y-%m-%d %H}:00 {self.calls} calls"

    @property
    def buckets(self) -> list[int]:
        return [getattr(self, name) for name in BUCKET_FIELDS]


class InstallCodeShown(models.Model):
    """One press of "Show install code" on the eSIM support page: who, when, which eSIM, and whether a
    code was shown. The code is never kept."""

    class Outcome(models.TextChoices):
        SHOWN = "shown", "Shown"
        UNAVAILABLE = "unavailable", "No code from the provider"

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    actor_username = models.CharField(
        max_length=150, help_text="Kept when the user is deleted, so the trail still names them."
    )
    iccid_masked = models.CharField("ICCID (masked)", max_length=22, db_index=True)
    provider = models.CharField(max_length=16, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.CharField(max_length=255, blank=True, help_text="Why no code was shown.")

    class Meta:
        ordering = ["-at", "-pk"]
        permissions = [("view_install_code", "Can show eSIM install codes")]
        verbose_name = "install code shown"
        verbose_name_plural = "install codes shown"

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.iccid_masked} {self.outcome}"
