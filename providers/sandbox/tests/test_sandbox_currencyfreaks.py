"""CurrencyFreaks simulator: string rates, cross rates, API key check."""

from __future__ import annotations

from decimal import Decimal

from providers.sandbox.tests.helpers import Sandbox


def test_latest_rates_are_strings_with_usd_base(sandbox: Sandbox):
    payload = sandbox.rates(base="USD").json()
    assert payload["base"] == "USD"
    assert payload["date"]
    assert "success" not in payload
    assert (payload["rates"]["EUR"], payload["rates"]["GBP"], payload["rates"]["USD"]) == (
        "0.9200",
        "0.7900",
        "1.0",
    )
    assert all(isinstance(value, str) for value in payload["rates"].values())


def test_other_bases_use_cross_rates(sandbox: Sandbox):
    payload = sandbox.rates(base="EUR", symbols="USD,GBP").json()
    assert payload["base"] == "EUR"
    assert set(payload["rates"]) == {"USD", "GBP"}
    assert Decimal(payload["rates"]["USD"]) == Decimal("1.0870")
    assert Decimal(payload["rates"]["GBP"]) == Decimal("0.8587")


def test_bad_api_key_is_401(sandbox: Sandbox):
    response = sandbox.rates(apikey="wrong")
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": {"status": 401, "message": "Invalid API key"}}


def test_unsupported_base_is_400(sandbox: Sandbox):
    response = sandbox.rates(base="XXX")
    assert response.status_code == 400
    assert response.json()["success"] is False
