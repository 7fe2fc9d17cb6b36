"""Obvious fake credentials accepted by the sandbox simulators. None of these is a real secret."""

from __future__ import annotations

SANDBOX_CREDENTIALS: dict[str, dict[str, str]] = {
    "airhub": {"username": "sandbox-airhub", "password": "sandbox-not-a-secret"},
    "esimcard": {"email": "sandbox@esimcard.invalid", "password": "sandbox-not-a-secret"},
    "travelroam": {"api_key": "sandbox-travelroam-key", "client_secret": "sandbox-not-a-secret"},
    "currencyfreaks": {"api_key": "sandbox-currencyfreaks-key"},
}

# AirHub sends this back in every body after login (providers.md §2.1: numeric, from data.partnerCode).
AIRHUB_PARTNER_CODE = 200000001
