"""Fixtures for the catalogue, pricing and renewal-options tests (imported by those test modules; no
conftest edits). Fixtures are defined under `*_fixture` names so importing them does not shadow the
parameter names tests use (ruff F811).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from providers.sandbox import SandboxWorld, reset_default_world
from pulse.services import currency

SEED_ICCID = "8932042000010245583"  # TravelRoam, expired "eSIM, 1GB, 7 Days, Turkey, V2"
AIRHUB_ICCID = "8944000000000000100"  # AirHub, "Spain 3GB 15 Days"
ESIMCARD_ICCID = "8944000000000000209"  # eSIMCard, "eSIM, 5GB, 30 Days, France, Unthrottled"
UNKNOWN_ICCID = "8944000000000000605"  # well-formed, no provider knows it


@pytest.fixture(name="sandbox")
def sandbox_fixture(settings):
    """The in-process simulators with their demo data, fresh clients, sandbox exchange rates
    (USD->EUR 0.92) and the documented pricing defaults; the world is reset again afterwards so a
    test that edits its catalogue leaves nothing behind."""
    settings.ESIM_SANDBOX = True  # also rebuilds the provider clients (setting_changed)
    settings.TRAVELROAM_ACCOUNT_CURRENCY = "USD"
    settings.CURRENCYFREAKS_API_KEY = ""  # rates come from the sandbox simulator
    settings.RENEWAL_MARKUP_PERCENT = Decimal("30")
    settings.SUPPORTED_CURRENCIES = ["USD", "EUR"]
    settings.STRIPE_CURRENCY = "USD"
    world = reset_default_world()
    currency.reset_rate_state()
    yield world
    reset_default_world()
    currency.reset_rate_state()


def request_count(world: SandboxWorld, provider: str | None = None) -> int:
    """How many requests the simulators answered (one provider, or all four APIs)."""
    requests = world.stats()["requests"]
    names = [provider] if provider else list(requests)
    return sum(sum(requests[name].values()) for name in names)
