"""GET currency/supported/, GET currency/exchange-rate/, GET+POST currency/convert/: whole bodies.

Rates come from the in-process CurrencyFreaks simulator (the test settings run in sandbox mode with no
key): USD->EUR 0.92, USD->GBP 0.79, USD->JPY 149.5.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from providers.sandbox import get_default_world
from pulse.models import ExchangeRate
from pulse.tests.currency_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    FROZEN,
    fresh_rates_fixture,
    no_rate_source_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rates")]

SUPPORTED = "/api/esim/currency/supported/"
RATE = "/api/esim/currency/exchange-rate/"
CONVERT = "/api/esim/currency/convert/"
FETCHED = "2025-01-15T12:00:00Z"  # FROZEN as the API writes it
USD = {"code": "USD", "name": "US Dollar", "symbol": "$", "locale": "en_US"}
EUR = {"code": "EUR", "name": "Euro", "symbol": "€", "locale": "en_IE"}
GBP = {"code": "GBP", "name": "British Pound", "symbol": "£", "locale": "en_GB"}
UNSUPPORTED_GBP = {
    "error": "Unsupported currency GBP; supported currencies: USD, EUR.",
    "code": "unsupported_currency",
    "details": "Use one of: USD, EUR.",
}


@pytest.fixture
def api() -> APIClient:
    return APIClient()


def invalid(field: str, message: str) -> dict:
    return {
        "error": "Invalid input.",
        "code": "invalid_input",
        "details": f"{field}: {message}",
        "fields": {field: [message]},
    }


def usd_to_eur_10(source: str = "live", age: int | None = 0) -> dict:
    return {
        "success": True,
        "data": {
            "original_amount": "10.00",
            "converted_amount": "9.20",
            "from_currency": "USD",
            "to_currency": "EUR",
            "exchange_rate": "0.92",
            "formatted_original": "$10.00",
            "formatted_converted": "€9.20",
            "rate_source": source,
            "rate_age_seconds": age,
        },
    }


# --- supported ------------------------------------------------------------------------------------


def test_supported_lists_the_configured_currencies(api):
    response = api.get(SUPPORTED)

    assert response.status_code == 200
    assert response.json() == {"success": True, "data": [USD, EUR]}


@override_settings(SUPPORTED_CURRENCIES=["USD", "EUR", "GBP"])
def test_supported_includes_gbp_when_configured(api):
    assert api.get(SUPPORTED).json() == {"success": True, "data": [USD, EUR, GBP]}


# --- exchange rate --------------------------------------------------------------------------------


def test_exchange_rate_live_then_cached(api):
    first = api.get(RATE, {"from": "USD", "to": "EUR"})
    second = api.get(RATE, {"from": "eur", "to": "usd"})

    assert first.status_code == 200
    assert first.json() == {
        "success": True,
        "data": {
            "from_currency": "USD",
            "to_currency": "EUR",
            "exchange_rate": "0.92",
            "rate_source": "live",
            "rate_age_seconds": 0,
            "fetched_at": FETCHED,
        },
    }
    assert second.json() == {
        "success": True,
        "data": {
            "from_currency": "EUR",
            "to_currency": "USD",
            "exchange_rate": "1.0869565217",
            "rate_source": "cached",
            "rate_age_seconds": 0,
            "fetched_at": FETCHED,
        },
    }


def test_exchange_rate_accepts_the_long_parameter_names(api):
    response = api.get(RATE, {"from_currency": "USD", "to_currency": "EUR"})

    assert response.status_code == 200
    assert response.json()["data"]["exchange_rate"] == "0.92"


def test_exchange_rate_identity(api):
    assert api.get(RATE, {"from": "EUR", "to": "EUR"}).json() == {
        "success": True,
        "data": {
            "from_currency": "EUR",
            "to_currency": "EUR",
            "exchange_rate": "1",
            "rate_source": "identity",
            "rate_age_seconds": None,
            "fetched_at": None,
        },
    }


def test_exchange_rate_stale_when_the_api_fails(api):
    ExchangeRate.objects.create(
        base="USD", quote="EUR", rate=Decimal("0.9"), fetched_at=FROZEN - timedelta(hours=3)
    )
    get_default_world().set_fault("currencyfreaks", "http_500")

    response = api.get(RATE, {"from": "USD", "to": "EUR"})

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {
            "from_currency": "USD",
            "to_currency": "EUR",
            "exchange_rate": "0.9",
            "rate_source": "stale",
            "rate_age_seconds": 10800,
            "fetched_at": "2025-01-15T09:00:00Z",
        },
    }


def test_exchange_rate_unsupported_currency(api):
    response = api.get(RATE, {"from": "USD", "to": "gbp"})

    assert response.status_code == 400
    assert response.json() == UNSUPPORTED_GBP


def test_exchange_rate_needs_both_currencies(api):
    response = api.get(RATE, {"from": "USD"})

    assert response.status_code == 400
    assert response.json() == invalid("to_currency", "This field is required.")


# --- convert --------------------------------------------------------------------------------------


def test_convert_get(api):
    response = api.get(CONVERT, {"amount": "10", "from": "USD", "to": "EUR"})

    assert response.status_code == 200
    assert response.json() == usd_to_eur_10()


def test_convert_post_as_the_published_frontend_sends_it(api):
    response = api.post(CONVERT, {"amount": 10, "from_currency": "USD", "to_currency": "EUR"}, format="json")

    assert response.status_code == 200
    assert response.json() == usd_to_eur_10()


def test_convert_post_accepts_from_and_to(api):
    api.get(RATE, {"from": "USD", "to": "EUR"})  # warms the cache

    response = api.post(CONVERT, {"amount": "10.00", "from": "usd", "to": "eur"}, format="json")

    assert response.json() == usd_to_eur_10(source="cached")


def test_convert_without_any_rate_source_uses_the_fallback_table(api, no_rate_source):
    response = api.post(CONVERT, {"amount": 10, "from_currency": "USD", "to_currency": "EUR"}, format="json")

    assert response.json() == usd_to_eur_10(source="fallback", age=None)
    assert len(no_rate_source.calls) == 0


def test_convert_rounds_half_up_and_formats_thousands(api):
    response = api.post(CONVERT, {"amount": "1515", "from": "EUR", "to": "USD"}, format="json")

    # Fetched with base EUR, the simulator answers USD "1.0870": 1515 x 1.087 = 1646.805 -> 1646.81
    # (half up; banker's rounding would give 1646.80).
    assert response.json() == {
        "success": True,
        "data": {
            "original_amount": "1515.00",
            "converted_amount": "1646.81",
            "from_currency": "EUR",
            "to_currency": "USD",
            "exchange_rate": "1.087",
            "formatted_original": "€1,515.00",
            "formatted_converted": "$1,646.81",
            "rate_source": "live",
            "rate_age_seconds": 0,
        },
    }


@override_settings(SUPPORTED_CURRENCIES=["USD", "EUR", "GBP"])
def test_gbp_end_to_end_once_configured(api):
    response = api.post(CONVERT, {"amount": 10, "from_currency": "USD", "to_currency": "GBP"}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "data": {
            "original_amount": "10.00",
            "converted_amount": "7.90",
            "from_currency": "USD",
            "to_currency": "GBP",
            "exchange_rate": "0.79",
            "formatted_original": "$10.00",
            "formatted_converted": "£7.90",
            "rate_source": "live",
            "rate_age_seconds": 0,
        },
    }


@override_settings(SUPPORTED_CURRENCIES=["USD", "JPY"])
def test_zero_decimal_currency(api):
    response = api.get(CONVERT, {"amount": "10", "from": "USD", "to": "JPY"})
    fraction = api.get(CONVERT, {"amount": "10.5", "from": "JPY", "to": "USD"})

    assert response.json()["data"]["converted_amount"] == "1495"
    assert response.json()["data"]["formatted_converted"] == "¥1,495"
    assert fraction.status_code == 400
    assert fraction.json() == invalid("amount", "Too many decimal places for this currency.")


def test_convert_unsupported_currency(api):
    response = api.post(CONVERT, {"amount": 10, "from_currency": "USD", "to_currency": "GBP"}, format="json")

    assert response.status_code == 400
    assert response.json() == UNSUPPORTED_GBP


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("abc", "A valid number is required."),
        ("NaN", "A valid number is required."),
        ("Infinity", "A valid number is required."),
        ("-Infinity", "A valid number is required."),
        ("", "A valid number is required."),
        (True, "A valid number is required."),
        (None, "This field may not be null."),
        ({"value": 10}, "A valid number is required."),
        ("1" * 40, "A valid number is required."),
        (0, "Must be greater than zero."),
        ("-5", "Must be greater than zero."),
        ("1000000.01", "Must not exceed 1000000."),
        (1e300, "Must not exceed 1000000."),
        ("10.001", "Too many decimal places for this currency."),
        (0.001, "Too many decimal places for this currency."),
    ],
)
def test_convert_rejects_bad_amounts(api, amount, message):
    response = api.post(
        CONVERT, {"amount": amount, "from_currency": "USD", "to_currency": "EUR"}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == invalid("amount", message)


def test_convert_needs_an_amount(api):
    response = api.get(CONVERT, {"from": "USD", "to": "EUR"})

    assert response.status_code == 400
    assert response.json() == invalid("amount", "This field is required.")


@pytest.mark.parametrize(
    ("amount", "converted"), [("1000000", "920000.00"), ("0.01", "0.01"), ("10.10", "9.29")]
)
def test_convert_accepts_amounts_at_the_limits(api, amount, converted):
    response = api.get(CONVERT, {"amount": amount, "from": "USD", "to": "EUR"})

    assert response.status_code == 200
    assert response.json()["data"]["converted_amount"] == converted


def test_convert_rejects_a_body_that_is_not_an_object(api):
    response = api.post(CONVERT, ["10", "USD", "EUR"], format="json")

    assert response.status_code == 400
    assert response.json() == invalid(
        "non_field_errors", "Invalid data. Expected a dictionary, but got list."
    )


def test_convert_rejects_malformed_json(api):
    response = api.post(CONVERT, '{"amount": 10,', content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("url", "method", "allow"),
    [
        (CONVERT, "put", "GET, POST, HEAD, OPTIONS"),
        (CONVERT, "delete", "GET, POST, HEAD, OPTIONS"),
        (RATE, "post", "GET, HEAD, OPTIONS"),
        (SUPPORTED, "post", "GET, HEAD, OPTIONS"),
    ],
)
def test_other_methods_are_405(api, url, method, allow):
    response = getattr(api, method)(url, {}, format="json")

    assert response.status_code == 405
    assert response.json() == {
        "error": f'Method "{method.upper()}" not allowed.',
        "code": "method_not_allowed",
        "details": f'Method "{method.upper()}" not allowed.',
    }
    assert response["Allow"] == allow


def test_schema_documents_the_currency_routes(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    paths = response.json()["paths"]
    assert set(paths["/api/esim/currency/convert/"]) == {"get", "post"}
    assert "get" in paths["/api/esim/currency/exchange-rate/"]
    assert "get" in paths["/api/esim/currency/supported/"]
