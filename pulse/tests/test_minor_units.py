"""Decimal <-> Stripe minor units (pulse/payments/minor_units.py, payments.md §1.9)."""

from decimal import Decimal

import pytest
from django.conf import settings

from pulse.payments.minor_units import STRIPE_MINOR_UNITS, from_minor, is_supported, to_minor


@pytest.mark.parametrize(
    ("amount", "currency", "minor", "back"),
    [
        ("12.99", "USD", 1299, "12.99"),
        ("10", "EUR", 1000, "10.00"),
        ("0.50", "gbp", 50, "0.50"),  # any case
        ("1500", "JPY", 1500, "1500"),  # zero-decimal: never x100
        ("5.45", "HUF", 545, "5.45"),  # two-decimal for charges although ISO/babel say 0
        ("5", "ISK", 500, "5.00"),  # zero-decimal, but Stripe wants it x100 (backwards compatibility)
        ("37000", "UGX", 3700000, "37000.00"),  # same special case as ISK
        ("1.230", "KWD", 1230, "1.230"),  # three-decimal
    ],
)
def test_amounts_convert_to_stripe_minor_units_and_back(amount, currency, minor, back):
    assert to_minor(Decimal(amount), currency) == minor
    assert from_minor(minor, currency) == Decimal(back)
    assert str(from_minor(minor, currency)) == back


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("0.005", "USD", 1),  # half up, not banker's rounding
        ("0.0049", "USD", 0),
        ("10.125", "EUR", 1013),
        ("2.675", "GBP", 268),  # the classic float trap (2.675 is 2.67499... as a float)
        ("1499.5", "JPY", 1500),
        ("5.45", "ISK", 500),  # whole krónur only
        ("5.5", "ISK", 600),
        ("1234.49", "UGX", 123400),
        ("1.2345", "KWD", 1230),  # the last digit must be 0: rounded to 0.010
        ("1.235", "KWD", 1240),
    ],
)
def test_rounds_half_up_to_the_smallest_chargeable_step(amount, currency, minor):
    assert to_minor(Decimal(amount), currency) == minor


def test_accepts_whole_numbers_as_int():
    assert to_minor(7, "USD") == 700
    assert to_minor(7, "JPY") == 7


@pytest.mark.parametrize("currency", ["XYZ", "", "US", "BTC"])
def test_refuses_currencies_not_in_the_table(currency):
    assert not is_supported(currency)
    with pytest.raises(ValueError, match="not in the Stripe minor-unit table"):
        to_minor(Decimal("1.00"), currency)
    with pytest.raises(ValueError, match="not in the Stripe minor-unit table"):
        from_minor(100, currency)


@pytest.mark.parametrize("amount", [12.99, "12.99", True, None])
def test_refuses_floats_and_other_non_decimals(amount):
    with pytest.raises(TypeError):
        to_minor(amount, "USD")


@pytest.mark.parametrize("amount", [Decimal("-1"), Decimal("NaN"), Decimal("Infinity")])
def test_refuses_negative_and_non_finite_amounts(amount):
    with pytest.raises(ValueError):
        to_minor(amount, "USD")


def test_from_minor_refuses_non_integers():
    with pytest.raises(TypeError):
        from_minor(12.5, "USD")


def test_every_currency_we_sell_in_has_an_entry():
    # A sale currency without an entry would only fail when a customer tries to pay.
    assert [code for code in settings.SUPPORTED_CURRENCIES if code not in STRIPE_MINOR_UNITS] == []


def test_special_cases_are_not_iso_precision():
    assert STRIPE_MINOR_UNITS["HUF"].exponent == 2
    assert STRIPE_MINOR_UNITS["ISK"] == (2, 100)
    assert STRIPE_MINOR_UNITS["UGX"] == (2, 100)
    assert all(STRIPE_MINOR_UNITS[code] == (3, 10) for code in ("BHD", "JOD", "KWD", "OMR", "TND"))
