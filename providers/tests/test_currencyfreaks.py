"""CurrencyFreaks client (providers.md §7.6): parsing, typed errors, and the API key kept out of logs."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests
import responses
from responses import matchers

from providers.currencyfreaks import CurrencyFreaksClient, RatesSnapshot, parse_rate
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.sandbox import SANDBOX_CREDENTIALS, build_world, mount_sandbox, sandbox_base_urls

BASE = "https://currencyfreaks.test/v2.0"
LATEST = f"{BASE}/rates/latest"
KEY = "cf-fake-key-0123456789"


def client(**overrides) -> CurrencyFreaksClient:
    return CurrencyFreaksClient(base_url=BASE, api_key=KEY, timeout=(1.0, 2.0), **overrides)


def expect(body=None, status=200, base="USD", **kwargs) -> None:
    responses.get(
        LATEST,
        json=body,
        status=status,
        match=[matchers.query_param_matcher({"apikey": KEY, "base": base})],
        **kwargs,
    )


@pytest.fixture(autouse=True)
def _debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    yield
    # Whatever happened in the test, the key never reached a log record.
    for record in caplog.records:
        assert KEY not in record.getMessage()
        assert KEY not in (record.exc_text or "")


@responses.activate
def test_parses_string_rates_and_sends_the_key_as_a_query_parameter():
    expect({"date": "2025-01-15 12:43:00+00", "base": "USD", "rates": {"EUR": "0.9278", "GBP": "0.79"}})

    snapshot = client().latest("usd")

    assert snapshot == RatesSnapshot(
        base="USD",
        rates={"EUR": Decimal("0.9278"), "GBP": Decimal("0.79")},
        date=datetime(2025, 1, 15, 12, 43, tzinfo=UTC),
    )
    assert len(responses.calls) == 1
    assert responses.calls[0].request.url == f"{LATEST}?apikey={KEY}&base=USD"


@responses.activate
def test_parses_numeric_rates_exactly():
    expect({"base": "USD", "rates": {"EUR": 0.9278, "JPY": 149, "CHF": 0.1}})

    snapshot = client().latest("USD")

    assert snapshot.rates == {"EUR": Decimal("0.9278"), "JPY": Decimal("149"), "CHF": Decimal("0.1")}
    assert snapshot.date is None


@responses.activate
def test_skips_unusable_rates_and_logs_them(caplog):
    rates = {"EUR": "0.92", "BAD": "abc", "NEG": "-1", "ZER": 0, "NAN": "NaN", "INF": "Infinity"}
    expect({"base": "USD", "rates": {**rates, "NUL": None, "BOO": True, "LST": [1], "TOOLONG": "1.0"}})

    snapshot = client().latest("USD")

    assert snapshot.rates == {"EUR": Decimal("0.92")}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    expected = "currencyfreaks: skipped 9 unusable rate(s) for base USD: BAD, NEG, ZER, NAN, INF, NUL, BOO, LST, TOOLONG"
    assert warnings == [expected]


@pytest.mark.parametrize(
    "body",
    [
        {"date": "2025-01-15", "base": "USD"},
        {"base": "USD", "rates": ["EUR", "0.92"]},
        {"base": "USD", "rates": {}},
        {"base": "USD", "rates": {"EUR": "n/a"}},
        {"base": "EUR", "rates": {"USD": "1.08"}},
        ["not", "an", "object"],
        None,
    ],
    ids=["missing-rates", "rates-list", "empty-rates", "no-usable-rate", "wrong-base", "list-body", "empty"],
)
@responses.activate
def test_a_body_without_usable_rates_is_invalid(body):
    expect(body)

    with pytest.raises(ProviderResponseInvalid) as caught:
        client().latest("USD")

    assert caught.value.provider == "currencyfreaks"


@responses.activate
def test_malformed_json_is_invalid():
    responses.get(LATEST, body='{"base": "USD", "rates": {"EUR": "0.9', status=200)

    with pytest.raises(ProviderResponseInvalid):
        client().latest("USD")


@responses.activate
def test_quota_exceeded_402_is_a_rejection_that_says_so():
    expect({"success": False, "error": {"status": 402, "message": "Monthly quota exceeded"}}, status=402)

    with pytest.raises(ProviderRejected) as caught:
        client().latest("USD")

    assert type(caught.value) is ProviderRejected
    assert caught.value.status_code == 402
    assert caught.value.message == "quota exceeded (HTTP 402: Monthly quota exceeded on rates/latest)"


@responses.activate
def test_401_is_an_auth_error_and_an_echoed_key_is_scrubbed():
    expect({"success": False, "error": {"status": 401, "message": f"Invalid API key {KEY}"}}, status=401)

    with pytest.raises(ProviderAuthError) as caught:
        client().latest("USD")

    assert caught.value.message == "HTTP 401: Invalid API key *** on rates/latest"
    assert KEY not in str(caught.value)


@responses.activate
def test_500_is_unavailable():
    expect({"success": False, "error": {"status": 500, "message": "Internal Server Error"}}, status=500)

    with pytest.raises(ProviderUnavailable) as caught:
        client().latest("USD")

    assert caught.value.status_code == 500
    assert caught.value.retryable


@responses.activate
def test_timeout_is_a_provider_timeout():
    responses.get(LATEST, body=requests.ReadTimeout("read timed out"))

    with pytest.raises(ProviderTimeout):
        client().latest("USD")


@responses.activate
def test_connection_error_does_not_carry_the_url_with_the_key():
    # requests' ConnectionError text holds the whole URL, query string (and key) included.
    responses.get(
        LATEST, body=requests.ConnectionError(f"Max retries exceeded with url: {LATEST}?apikey={KEY}")
    )

    with pytest.raises(ProviderUnavailable) as caught:
        client().latest("USD")

    error = caught.value
    assert KEY not in str(error)
    assert error.__cause__ is None
    assert error.__suppress_context__


@responses.activate
def test_request_logs_name_the_path_but_never_the_query(caplog):
    expect({"base": "USD", "rates": {"EUR": "0.92"}})

    client().latest("USD")

    messages = [record.getMessage() for record in caplog.records if record.name == "providers.http"]
    assert len(messages) == 1
    assert messages[0].startswith("currencyfreaks GET rates/latest -> 200 in ")
    assert "apikey" not in messages[0]


def test_rejects_a_base_that_is_not_a_currency_code():
    with pytest.raises(ValueError, match="ISO 4217"):
        client().latest("EURO")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0.9278", Decimal("0.9278")), (0.1, Decimal("0.1")), (3, Decimal(3)), (" 1.5 ", Decimal("1.5"))],
)
def test_parse_rate_accepts_positive_strings_and_numbers(value, expected):
    assert parse_rate(value) == expected


@pytest.mark.parametrize("value", ["0", "-0.5", "abc", "NaN", "sNaN", "Infinity", None, True, [], {}])
def test_parse_rate_rejects_everything_else(value):
    assert parse_rate(value) is None


def test_sandbox_simulator_serves_deterministic_rates():
    session = requests.Session()
    mount_sandbox(session, build_world())
    sandbox = CurrencyFreaksClient(
        base_url=sandbox_base_urls()["currencyfreaks"],
        api_key=SANDBOX_CREDENTIALS["currencyfreaks"]["api_key"],
        session=session,
    )

    usd, eur = sandbox.latest("USD"), sandbox.latest("EUR")

    assert (usd.rates["EUR"], usd.rates["GBP"], usd.rates["JPY"]) == (
        Decimal("0.9200"),
        Decimal("0.7900"),
        Decimal("149.5000"),
    )
    assert eur.base == "EUR"
    assert eur.rates["USD"] == Decimal("1.0870")


def test_sandbox_refuses_a_wrong_key():
    session = requests.Session()
    mount_sandbox(session, build_world())
    sandbox = CurrencyFreaksClient(
        base_url=sandbox_base_urls()["currencyfreaks"], api_key="cf-wrong-fake-key", session=session
    )

    with pytest.raises(ProviderError) as caught:
        sandbox.latest("USD")

    assert isinstance(caught.value, ProviderAuthError)
