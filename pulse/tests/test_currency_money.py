"""Currency metadata, the supported list from settings, rounding and display strings."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from pulse.exceptions import UnsupportedCurrency
from pulse.services.money import (
    CURRENCIES,
    CurrencyInfo,
    currency_info,
    format_money,
    has_excess_precision,
    require_known,
    require_supported,
    round_money,
    supported_codes,
    supported_currencies,
)


def test_default_supported_currencies_are_usd_and_eur():
    assert supported_currencies() == [
        CurrencyInfo("USD", "US Dollar", "$", "en_US", 2),
        CurrencyInfo("EUR", "Euro", "€", "en_IE", 2),
    ]


@override_settings(SUPPORTED_CURRENCIES=["USD", "EUR", "GBP"])
def test_adding_gbp_is_a_settings_change():
    assert supported_codes() == ["USD", "EUR", "GBP"]
    assert supported_currencies()[2] == CurrencyInfo("GBP", "British Pound", "£", "en_GB", 2)
    assert require_supported("gbp") == "GBP"


@override_settings(SUPPORTED_CURRENCIES=" usd, jpy ,USD")
def test_a_comma_separated_setting_is_normalised_and_deduplicated():
    assert supported_codes() == ["USD", "JPY"]


@override_settings(SUPPORTED_CURRENCIES=["USD", "XYZ"])
def test_an_unknown_configured_currency_fails_loudly():
    with pytest.raises(ImproperlyConfigured, match="SUPPORTED_CURRENCIES lists XYZ"):
        supported_currencies()


@pytest.mark.parametrize(("given", "expected"), [("USD", "USD"), ("eur", "EUR"), (" usd ", "USD")])
def test_require_supported_upper_cases(given, expected):
    assert require_supported(given) == expected


@pytest.mark.parametrize("given", ["GBP", "", None, "US", "dollars"])
def test_require_supported_names_the_supported_codes(given):
    with pytest.raises(UnsupportedCurrency) as caught:
        require_supported(given)

    error = caught.value
    assert error.code == "unsupported_currency"
    assert error.status_code == 400
    assert error.message.endswith("supported currencies: USD, EUR.")
    assert error.details == "Use one of: USD, EUR."


def test_require_supported_message_shows_the_code():
    with pytest.raises(
        UnsupportedCurrency, match=r"^Unsupported currency GBP; supported currencies: USD, EUR\.$"
    ):
        require_supported("gbp")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("8.505"), "EUR", Decimal("8.51")),  # half up, not banker's (8.50)
        (Decimal("8.504"), "EUR", Decimal("8.50")),
        (Decimal("0.125"), "USD", Decimal("0.13")),
        (Decimal("-0.125"), "USD", Decimal("-0.13")),  # half away from zero
        (Decimal("1234.5"), "JPY", Decimal("1235")),
        (Decimal("2.5"), "JPY", Decimal("3")),
        (10, "USD", Decimal("10.00")),
        (Decimal("7.9"), CURRENCIES["GBP"], Decimal("7.90")),
        (Decimal("1.005"), "XXX", Decimal("1.01")),  # unknown codes use 2 decimals
    ],
)
def test_round_money_quantizes_half_up_to_the_minor_unit(amount, currency, expected):
    rounded = round_money(amount, currency)
    assert rounded == expected
    assert str(rounded) == str(expected)


def test_round_money_refuses_floats_and_non_finite_values():
    with pytest.raises(TypeError):
        round_money(0.1, "USD")
    with pytest.raises(ValueError):
        round_money(Decimal("NaN"), "USD")


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("10"), "USD", "$10.00"),
        (Decimal("8.5"), "EUR", "€8.50"),
        (Decimal("7.9"), "GBP", "£7.90"),
        (Decimal("1234.4"), "JPY", "¥1,234"),
        (Decimal("1234567.891"), "USD", "$1,234,567.89"),
        (Decimal("8.5"), "CHF", "CHF 8.50"),
        (Decimal("-3"), "USD", "-$3.00"),
        (Decimal("-0.001"), "USD", "$0.00"),
        (Decimal("9.995"), "EUR", "€10.00"),
    ],
)
def test_format_money(amount, currency, expected):
    assert format_money(amount, currency) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("10.00"), "USD", False),
        (Decimal("10.001"), "USD", True),
        (Decimal("10.0010"), "USD", True),
        (Decimal("10.00"), "JPY", False),
        (Decimal("10.5"), "JPY", True),
    ],
)
def test_has_excess_precision(amount, currency, expected):
    assert has_excess_precision(amount, currency) is expected


def test_currency_info_of_an_unknown_code_is_a_plain_default():
    assert currency_info(" xxx ") == CurrencyInfo("XXX", "XXX", "XXX", "", 2)


def test_require_known_accepts_any_currency_in_the_table_but_nothing_else():
    assert require_known(" gbp ") == "GBP"
    assert require_known("JPY") == "JPY"
    with pytest.raises(
        UnsupportedCurrency, match=r"^Unsupported currency XYZ; supported currencies: USD, EUR\.$"
    ):
        require_known("xyz")
