from django.db import models


class ProviderName(models.TextChoices):
    AIRHUB = "airhub", "AirHub"
    ESIMCARD = "esimcard", "eSIMCard"
    TRAVELROAM = "travelroam", "TravelRoam"


class KnownEsim(models.Model):
    """Where an ICCID was found, so later checks go straight to the provider's per-eSIM endpoints.

    `reference` is the provider's own key for the eSIM (AirHub order id and purchase day, eSIMCard
    eSIM UUID, TravelRoam ICCID). One ICCID may be known at several providers (resold eSIMs).
    """

    iccid = models.CharField("ICCID", max_length=22, db_index=True)
    provider = models.CharField(max_length=16, choices=ProviderName.choices)
    reference = models.CharField(max_length=128)
    last_status = models.CharField(max_length=16, blank=True)
    plan_name = models.CharField(max_length=200, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["iccid", "provider"], name="known_esim_unique_per_provider")
        ]
        ordering = ["-last_seen_at"]
        verbose_name = "known eSIM"

    def __str__(self) -> str:
        return f"{self.iccid[:6]}…{self.iccid[-4:]} at {self.get_provider_display()}"
