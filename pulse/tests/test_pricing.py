"""Server-side retail pricing (`pulse.services.pricing`): cost x (1 + RENEWAL_MARKUP_PERCENT/100), or the
staff override, converted into the sale currency and rounded ONCE, half up, to its minor unit.

Exchange rates are scripted with `responses` (a CurrencyFreaks key is configured; see
currency_helpers.py), so each expected price can be worked out by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.test import override_settings

from pulse.exceptions import UnsupportedCurrency
from pulse.models import Bundle
from pulse.services.money import format_money
from pulse.services.pricing import Quote, UnpriceableBundle, base_price, quote_bundle
from pulse.tests.currency_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    LATEST,
    fresh_rates_fixture,
    real_api_fixture,
    usd_rates,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rates")]

SEED = "esim_1GB_7D_TR_V2"


@pytest.fixture(autouse=True)
def _pricing_settings(settings):
    settings.RENEWAL_MARKUP_PERCENT = Decimal("30")
    settings.SUPPORTED_CURRENCIES = ["USD", "EUR"]


def bundle(
    cost: str = "1.23",
    currency: str = "USD",
    *,
    override: str | None = None,
    override_currency: str = "",
    code: str = SEED,
) -> Bundle:
    """An unsaved catalogue row (pricing reads only these fields)."""
    return Bundle(
        provider="travelroam",
        code=code,
        description="eSIM, 1GB, 7 Days, Turkey, V2",
        cost=Decimal(cost),
        cost_currency=currency,
        retail_price_override=Decimal(override) if override is not None else None,
        override_currency=override_currency,
        synced_at=datetime(2025, 1, 15, tzinfo=UTC),
    )


def usd_price(cost: str, markup: str) -> str:
    with override_settings(RENEWAL_MARKUP_PERCENT=Decimal(markup)):
        return str(quote_bundle(bundle(cost), "USD").amount)


# --- the formula ----------------------------------------------------------------------------------


def test_seed_bundle_1_23_usd_with_30_percent_is_1_60_usd():
    quote = quote_bundle(bundle("1.23"), "USD")

    # 1.23 x 1.30 = 1.599 -> 1.60 (USD has two decimals)
    assert quote == Quote(
        bundle_code=SEED,
        amount=Decimal("1.60"),
        currency="USD",
        base_amount=Decimal("1.599"),
        base_currency="USD",
        exchange_rate=Decimal("1"),
        rate_source="identity",
        override=False,
    )
    assert str(quote.amount) == "1.60"
    assert base_price(bundle("1.23")) == (Decimal("1.599"), "USD", False)


def test_eur_price_uses_the_live_rate_and_rounds_after_converting(real_api):
    real_api.get(LATEST, json=usd_rates(EUR="0.9"))

    quote = quote_bundle(bundle("1.23"), "eur")

    # 1.599 USD x 0.9 = 1.4391 EUR -> 1.44
    assert (quote.amount, quote.currency, quote.exchange_rate, quote.rate_source) == (
        Decimal("1.44"),
        "EUR",
        Decimal("0.9"),
        "live",
    )
    assert (quote.base_amount, quote.base_currency) == (Decimal("1.599"), "USD")
    assert format_money(quote.amount, quote.currency) == "€1.44"


def test_rounded_once_not_before_and_after_conversion(real_api, settings):
    settings.RENEWAL_MARKUP_PERCENT = Decimal("0")
    real_api.get(LATEST, json=usd_rates(EUR="0.9"))

    # 2.005 x 0.9 = 1.8045 -> 1.80. Rounding the USD amount first (2.01) would give 1.809 -> 1.81.
    assert quote_bundle(bundle("2.005"), "EUR").amount == Decimal("1.80")


@pytest.mark.parametrize(
    ("cost", "markup", "expected"),
    [
        ("1.05", "30", "1.37"),  # 1.365: half up (banker's rounding would say 1.36)
        ("2.05", "30", "2.67"),  # 2.665 (banker's: 2.66)
        ("1.15", "30", "1.50"),  # 1.495
        ("1.0049", "0", "1.00"),  # below the half: down
        ("1.005", "0", "1.01"),  # exactly half (a float 1.005 is 1.00499... and would give 1.00)
        ("0.005", "0", "0.01"),  # the smallest price: half a cent rounds up to one
    ],
)
def test_half_up_rounding_edges(cost, markup, expected):
    assert usd_price(cost, markup) == expected


def test_markup_zero_sells_at_cost():
    assert usd_price("1.23", "0") == "1.23"


def test_fractional_markup_is_exact():
    # 10.00 x 1.125 = 11.25 (12% would be 11.20, 13% 11.30)
    assert usd_price("10.00", "12.5") == "11.25"
    assert usd_price("1.23", "12.5") == "1.38"  # 1.38375


def test_cost_in_another_currency_is_marked_up_then_converted(real_api):
    real_api.get(LATEST, json={"date": "2025-01-15 00:00:00+00", "base": "EUR", "rates": {"USD": "1.25"}})

    quote = quote_bundle(bundle("1.00", "EUR"), "USD")

    # 1.00 EUR x 1.30 = 1.30 EUR x 1.25 = 1.625 USD -> 1.63
    assert (quote.amount, quote.base_amount, quote.base_currency) == (Decimal("1.63"), Decimal("1.3"), "EUR")


# --- staff override -------------------------------------------------------------------------------


def test_override_replaces_cost_times_markup(settings):
    settings.RENEWAL_MARKUP_PERCENT = Decimal("100")  # ignored for an overridden bundle

    quote = quote_bundle(bundle("1.23", override="2.49", override_currency="USD"), "USD")

    assert (quote.amount, quote.base_amount, quote.override) == (Decimal("2.49"), Decimal("2.49"), True)


def test_override_in_another_currency_is_converted(real_api):
    real_api.get(LATEST, json={"date": "2025-01-15 00:00:00+00", "base": "EUR", "rates": {"USD": "1.25"}})
    overridden = bundle("1.23", override="2.00", override_currency="EUR")

    in_usd = quote_bundle(overridden, "USD")
    in_eur = quote_bundle(overridden, "EUR")

    assert in_usd == Quote(
        bundle_code=SEED,
        amount=Decimal("2.50"),  # 2.00 EUR x 1.25
        currency="USD",
        base_amount=Decimal("2.00"),
        base_currency="EUR",
        exchange_rate=Decimal("1.25"),
        rate_source="live",
        override=True,
    )
    assert (in_eur.amount, in_eur.rate_source, in_eur.override) == (Decimal("2.00"), "identity", True)


def test_override_without_a_currency_is_in_the_cost_currency():
    assert base_price(bundle("1.23", override="2.49")) == (Decimal("2.49"), "USD", True)


# --- what cannot be priced ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        pytest.param(bundle("0"), "has no positive cost or override", id="zero-cost"),
        pytest.param(bundle("-1.00"), "has no positive cost or override", id="negative-cost"),
        pytest.param(
            bundle("1.23", override="0", override_currency="USD"),
            "has no positive cost or override",
            id="zero-override",
        ),
        pytest.param(
            bundle("1.23", override="-2", override_currency="USD"),
            "has no positive cost or override",
            id="negative-override",
        ),
        # 0.001 x 1.30 = 0.0013 -> 0.00
        pytest.param(bundle("0.001"), "rounds to a zero price in USD", id="rounds-to-zero"),
        pytest.param(
            bundle("1.23", "SGD"), "is priced in SGD, which has no rates", id="cost-currency-unknown"
        ),
        pytest.param(
            bundle("1.23", override="2.00", override_currency="XYZ"),
            "is priced in XYZ, which has no rates",
            id="override-currency-unknown",
        ),
    ],
)
def test_unpriceable_bundles(row, message):
    with pytest.raises(UnpriceableBundle, match=message):
        quote_bundle(row, "USD")


def test_a_currency_customers_cannot_pay_in_is_refused():
    with pytest.raises(UnsupportedCurrency) as exc_info:
        quote_bundle(bundle(), "GBP")
    assert exc_info.value.message == "Unsupported currency GBP; supported currencies: USD, EUR."


# --- a currency without minor units ---------------------------------------------------------------


def test_jpy_is_rounded_to_whole_yen_when_enabled(real_api, settings):
    settings.SUPPORTED_CURRENCIES = ["USD", "EUR", "JPY"]
    real_api.get(LATEST, json=usd_rates(EUR="0.9", JPY="150"))

    quote = quote_bundle(bundle("1.23"), "JPY")

    # 1.599 USD x 150 = 239.85 JPY -> 240 (ISO 4217 exponent 0)
    assert (quote.amount, str(quote.amount), quote.currency) == (Decimal("240"), "240", "JPY")
    assert format_money(quote.amount, "JPY") == "¥240"


def test_jpy_half_yen_rounds_up(real_api, settings):
    settings.SUPPORTED_CURRENCIES = ["USD", "JPY"]
    settings.RENEWAL_MARKUP_PERCENT = Decimal("0")
    real_api.get(LATEST, json=usd_rates(JPY="150.5"))

    assert str(quote_bundle(bundle("1.00"), "JPY").amount) == "151"  # 150.5 (banker's: 150)


def test_jpy_is_refused_unless_enabled():
    with pytest.raises(UnsupportedCurrency):
        quote_bundle(bundle(), "JPY")
