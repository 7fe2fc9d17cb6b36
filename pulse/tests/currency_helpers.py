"""Fixtures for the currency tests (imported by `test_currency*.py`; no conftest edits).

Each fixture is defined under a `*_fixture` name so that importing it does not shadow the
parameter name tests use (ruff F811).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import responses

from providers.sandbox import get_default_world
from pulse.services import currency

FROZEN = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
FAKE_KEY = "cf-fake-key-0123456789"
API = "https://currencyfreaks.test/v2.0"
LATEST = f"{API}/rates/latest"


def usd_rates(**rates: str) -> dict:
    """A CurrencyFreaks body for base USD (rates as strings, as the API sends them)."""
    return {"date": "2025-01-15 00:00:00+00", "base": "USD", "rates": {"USD": "1.0", **rates}}


@pytest.fixture(name="fresh_rates")
def fresh_rates_fixture(monkeypatch):
    """No client, no back-off, no sandbox fault left over; the service's clock frozen at FROZEN."""
    world = get_default_world()
    currency.reset_rate_state()
    world.clear_faults("currencyfreaks")
    clock = {"now": FROZEN}
    monkeypatch.setattr(currency, "_now", lambda: clock["now"])
    yield clock
    currency.reset_rate_state()
    world.clear_faults("currencyfreaks")


@pytest.fixture(name="real_api")
def real_api_fixture(settings, fresh_rates):
    """A CurrencyFreaks key is configured; its HTTP is scripted with `responses`."""
    settings.CURRENCYFREAKS_API_KEY = FAKE_KEY
    settings.CURRENCYFREAKS_API_BASE_URL = API
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture(name="no_rate_source")
def no_rate_source_fixture(settings, fresh_rates):
    """No key and no sandbox; any HTTP attempt would fail loudly (and be counted)."""
    settings.CURRENCYFREAKS_API_KEY = ""
    settings.ESIM_SANDBOX = False
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
