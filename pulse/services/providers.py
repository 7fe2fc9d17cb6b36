"""Which providers are enabled and how they are doing (filled in by the provider clients)."""

from __future__ import annotations

PROVIDER_NAMES = ("airhub", "esimcard", "travelroam")


def provider_health() -> dict[str, object]:
    """Per provider: True/False from cached probes, or "not_configured"."""
    return dict.fromkeys(PROVIDER_NAMES, "not_configured")
