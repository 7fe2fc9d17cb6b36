"""Exchange-rate service: live -> cached -> stale -> fallback, one fetch fills every pair, no stray calls."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import requests
from django.test import override_settings

from providers.sandbox import get_default_world
from pulse.exceptions import UnsupportedCurrency
from pulse.models import ExchangeRate
from pulse.services import currency
from pulse.services.currency import (
    FALLBACK_USD_RATES,
    Conversion,
    Rate,
    convert,
    convert_unrounded,
    exchange_rate,
)
from pulse.services.money import CURRENCIES
from pulse.tests.currency_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    FROZEN,
    LATEST,
    fresh_rates_fixture,
    no_rate_source_fixture,
    real_api_fixture,
    usd_rates,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_rates")]


def stored() -> dict[tuple[str, str], tuple[Decimal, str]]:
    return {(row.base, row.quote): (row.rate, row.source) for row in ExchangeRate.objects.all()}


def store(base: str, quote: str, rate: str, age: timedelta) -> None:
    ExchangeRate.objects.create(base=base, quote=quote, rate=Decimal(rate), fetched_at=FROZEN - age)


# --- live and cached -------------------------------------------------------------------------------


def test_live_then_cached_with_one_http_call(real_api):
    real_api.get(LATEST, json=usd_rates(EUR="0.9278"))

    first = convert(Decimal("10"), "USD", "EUR")
    second = convert(Decimal("20"), "usd", "eur")

    assert first == Conversion(
        original_amount=Decimal("10"),
        converted_amount=Decimal("9.28"),
        from_currency="USD",
        to_currency="EUR",
        rate=Rate("USD", "EUR", Decimal("0.9278"), "live", FROZEN, 0),
    )
    assert second.rate == Rate("USD", "EUR", Decimal("0.9278"), "cached", FROZEN, 0)
    assert second.converted_amount == Decimal("18.56")
    assert len(real_api.calls) == 1
    assert "apikey=cf-fake-key-0123456789" in real_api.calls[0].request.url


def test_one_fetch_persists_and_caches_every_supported_pair(real_api, fresh_rates):
    real_api.get(LATEST, json=usd_rates(EUR="0.8", GBP="0.5", JPY="150"))

    with override_settings(SUPPORTED_CURRENCIES=["USD", "EUR", "GBP"]):
        exchange_rate("USD", "EUR")
        fresh_rates["now"] = FROZEN + timedelta(seconds=90)
        inverse = exchange_rate("EUR", "USD")
        cross = exchange_rate("EUR", "GBP")

    assert inverse == Rate("EUR", "USD", Decimal("1.25"), "cached", FROZEN, 90)
    assert cross == Rate("EUR", "GBP", Decimal("0.625"), "cached", FROZEN, 90)
    assert len(real_api.calls) == 1
    assert stored() == {
        ("USD", "EUR"): (Decimal("0.8"), "currencyfreaks"),
        ("USD", "GBP"): (Decimal("0.5"), "currencyfreaks"),
        ("EUR", "USD"): (Decimal("1.25"), "currencyfreaks"),
        ("EUR", "GBP"): (Decimal("0.625"), "currencyfreaks"),
        ("GBP", "USD"): (Decimal("2"), "currencyfreaks"),
        ("GBP", "EUR"): (Decimal("1.6"), "currencyfreaks"),
    }
    assert set(ExchangeRate.objects.values_list("fetched_at", flat=True)) == {FROZEN}


def test_a_later_fetch_updates_the_stored_rows(real_api, fresh_rates, settings):
    settings.EXCHANGE_RATE_CACHE_SECONDS = 0  # every lookup misses the cache
    real_api.get(LATEST, json=usd_rates(EUR="0.90"))
    exchange_rate("USD", "EUR")
    currency.cache.delete("fx:fetch-guard:USD")  # as if the guard period had passed
    real_api.replace("GET", LATEST, json=usd_rates(EUR="0.95"))
    fresh_rates["now"] = FROZEN + timedelta(hours=1)

    rate = exchange_rate("USD", "EUR")

    assert rate == Rate("USD", "EUR", Decimal("0.95"), "live", FROZEN + timedelta(hours=1), 0)
    assert ExchangeRate.objects.count() == 2
    row = ExchangeRate.objects.get(base="USD", quote="EUR")
    assert (row.rate, row.fetched_at) == (Decimal("0.95"), FROZEN + timedelta(hours=1))


def test_cache_ttl_comes_from_settings(real_api, settings):
    settings.EXCHANGE_RATE_CACHE_SECONDS = 0
    real_api.get(LATEST, json=usd_rates(EUR="0.90"))

    first, second = exchange_rate("USD", "EUR"), exchange_rate("USD", "EUR")

    # Nothing cached; the fetch guard stops a second call, so the persisted row answers.
    assert (first.source, second.source) == ("live", "stale")
    assert second == Rate("USD", "EUR", Decimal("0.9"), "stale", FROZEN, 0)
    assert len(real_api.calls) == 1


# --- stale and fallback -----------------------------------------------------------------------------


def test_api_down_serves_the_stored_rate_with_its_age(real_api, caplog):
    store("USD", "EUR", "0.91", age=timedelta(hours=2))
    real_api.get(LATEST, status=500, json={"success": False})

    with caplog.at_level(logging.WARNING, logger="pulse.services.currency"):
        rate = exchange_rate("USD", "EUR")

    assert rate == Rate("USD", "EUR", Decimal("0.91"), "stale", FROZEN - timedelta(hours=2), 7200)
    assert len(real_api.calls) == 1
    assert "exchange rates for USD unavailable (unavailable: HTTP 500 on rates/latest)" in caplog.text
    assert "cf-fake-key" not in caplog.text


def test_stale_uses_the_inverse_of_the_opposite_row(real_api):
    store("USD", "EUR", "0.8", age=timedelta(minutes=5))
    real_api.get(LATEST, status=402, json={"success": False, "error": {"message": "quota exceeded"}})

    rate = exchange_rate("EUR", "USD")

    assert rate == Rate("EUR", "USD", Decimal("1.25"), "stale", FROZEN - timedelta(minutes=5), 300)


def test_no_rate_ever_fetched_falls_back_to_the_table(real_api):
    real_api.get(LATEST, body=requests.ConnectionError("down"))

    forward, inverse = exchange_rate("USD", "EUR"), exchange_rate("EUR", "USD")

    assert forward == Rate("USD", "EUR", Decimal("0.92"), "fallback", None, None)
    assert inverse == Rate("EUR", "USD", Decimal("1.0869565217"), "fallback", None, None)
    # The failure backs off: the second lookup (another base) tried once, the first not again.
    assert [call.request.params["base"] for call in real_api.calls] == ["USD", "EUR"]


@override_settings(SUPPORTED_CURRENCIES=["EUR", "GBP"])
def test_fallback_crosses_through_usd(no_rate_source):
    rate = exchange_rate("EUR", "GBP")

    assert rate == Rate("EUR", "GBP", Decimal("0.8586956522"), "fallback", None, None)


def test_failed_fetch_backs_off_instead_of_hammering_the_api(real_api):
    real_api.get(LATEST, status=503, json={})

    sources = [exchange_rate("USD", "EUR").source for _ in range(3)]

    assert sources == ["fallback"] * 3
    assert len(real_api.calls) == 1


def test_no_key_and_no_sandbox_makes_no_call_at_all(no_rate_source, caplog):
    store("USD", "EUR", "0.93", age=timedelta(days=3))

    with caplog.at_level(logging.INFO, logger="pulse.services.currency"):
        stale = exchange_rate("USD", "EUR")
        fallback = convert(Decimal("10"), "EUR", "USD")
        exchange_rate("USD", "EUR")

    assert stale == Rate("USD", "EUR", Decimal("0.93"), "stale", FROZEN - timedelta(days=3), 259200)
    assert fallback.rate.source == "stale"  # inverse of the stored USD->EUR row
    assert fallback.converted_amount == Decimal("10.75")  # 10 / 0.93 = 10.7527 -> 10.75
    assert len(no_rate_source.calls) == 0
    notices = [r for r in caplog.records if "CURRENCYFREAKS_API_KEY is not set" in r.getMessage()]
    assert len(notices) == 1
    assert notices[0].levelno == logging.INFO


def test_no_key_no_sandbox_and_nothing_stored_is_fallback(no_rate_source):
    assert exchange_rate("USD", "EUR").source == "fallback"
    assert len(no_rate_source.calls) == 0


# --- sandbox ----------------------------------------------------------------------------------------


def test_sandbox_mode_serves_the_simulators_deterministic_rates(settings):
    settings.CURRENCYFREAKS_API_KEY = ""
    settings.ESIM_SANDBOX = True

    with override_settings(SUPPORTED_CURRENCIES=["USD", "EUR", "GBP"]):
        eur = exchange_rate("USD", "EUR")
        gbp = exchange_rate("USD", "GBP")

    assert eur == Rate("USD", "EUR", Decimal("0.92"), "live", FROZEN, 0)
    assert gbp == Rate("USD", "GBP", Decimal("0.79"), "cached", FROZEN, 0)
    assert stored()[("USD", "EUR")] == (Decimal("0.92"), "currencyfreaks-sandbox")


def test_sandbox_outage_falls_back_to_stored_rates(settings):
    settings.CURRENCYFREAKS_API_KEY = ""
    settings.ESIM_SANDBOX = True
    store("USD", "EUR", "0.9", age=timedelta(seconds=42))
    get_default_world().set_fault("currencyfreaks", "http_500")

    assert exchange_rate("USD", "EUR") == Rate(
        "USD", "EUR", Decimal("0.9"), "stale", FROZEN - timedelta(seconds=42), 42
    )


# --- conversion ------------------------------------------------------------------------------------


def test_identity_needs_no_lookup(no_rate_source):
    conversion = convert(Decimal("10.5"), "usd", "USD")

    assert conversion == Conversion(
        Decimal("10.5"),
        Decimal("10.50"),
        "USD",
        "USD",
        Rate("USD", "USD", Decimal(1), "identity", None, None),
    )
    assert len(no_rate_source.calls) == 0


def test_conversion_rounds_once_half_up(real_api):
    real_api.get(LATEST, json=usd_rates(EUR="0.9"))

    conversion = convert(Decimal("10.05"), "USD", "EUR")  # 9.045 exactly

    assert conversion.converted_amount == Decimal("9.05")


def test_convert_unrounded_keeps_every_digit_for_pricing(real_api):
    real_api.get(LATEST, json=usd_rates(EUR="0.9278"))

    amount, rate = convert_unrounded(Decimal("10.01"), "USD", "EUR")

    assert amount == Decimal("9.287278")
    assert rate.source == "live"


@pytest.mark.parametrize(("base", "quote"), [("USD", "XYZ"), ("XYZ", "EUR"), ("", "EUR")])
def test_unknown_currencies_are_refused_before_any_call(no_rate_source, base, quote):
    with pytest.raises(UnsupportedCurrency, match="supported currencies: USD, EUR"):
        exchange_rate(base, quote)
    assert len(no_rate_source.calls) == 0


def test_a_known_currency_that_is_not_for_sale_still_converts(real_api):
    # Pricing converts provider costs: a GBP cost sold in USD while only USD and EUR are on sale.
    real_api.get(LATEST, json={"base": "GBP", "rates": {"USD": "1.25", "EUR": "1.15"}})

    amount, rate = convert_unrounded(Decimal("8"), "gbp", "USD")

    assert (amount, rate) == (Decimal("10.00"), Rate("GBP", "USD", Decimal("1.25"), "live", FROZEN, 0))
    assert exchange_rate("EUR", "GBP").source == "cached"
    assert len(real_api.calls) == 1


def test_convert_refuses_floats(no_rate_source):
    with pytest.raises(TypeError):
        convert(10.5, "USD", "EUR")


def test_fallback_table_covers_every_displayable_currency():
    assert set(FALLBACK_USD_RATES) == set(CURRENCIES)
    assert all(rate > 0 for rate in FALLBACK_USD_RATES.values())


# --- thundering herd --------------------------------------------------------------------------------


def test_concurrent_misses_share_one_fetch(real_api, monkeypatch):
    # DB work is patched out: the threads have no test transaction to see.
    monkeypatch.setattr(currency, "_persist", lambda table, fetched_at: None)
    monkeypatch.setattr(currency, "_stored_rate", lambda base, quote: None)
    started = threading.Event()

    def slow_answer(request):
        started.set()
        release.wait(5)
        return 200, {}, '{"base": "USD", "rates": {"EUR": "0.92"}}'

    release = threading.Event()
    real_api.add_callback("GET", LATEST, callback=slow_answer)
    results: list[Rate] = []
    threads = [threading.Thread(target=lambda: results.append(exchange_rate("USD", "EUR"))) for _ in range(5)]
    threads[0].start()
    started.wait(5)  # the first thread is inside the fetch, holding the lock
    for thread in threads[1:]:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)

    assert len(real_api.calls) == 1
    assert sorted(rate.source for rate in results) == ["cached"] * 4 + ["live"]
    assert {rate.rate for rate in results} == {Decimal("0.92")}
