"""Wallet reads and "insufficient funds" refusals of the three clients, against the in-process simulators."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from providers.airhub import AirHubClient
from providers.base import AIRHUB, ESIMCARD, TRAVELROAM, TopUpRequest, WalletBalance
from providers.cache import MemoryCache
from providers.errors import (
    ProviderAuthError,
    ProviderInsufficientFunds,
    ProviderRejected,
    ProviderResponseInvalid,
    insufficient_funds_or_same,
    means_insufficient_funds,
)
from providers.esimcard import ESimCardClient
from providers.sandbox import SANDBOX_CREDENTIALS, build_world, mount_sandbox, sandbox_base_urls
from providers.travelroam import TravelRoamClient
from providers.wallet_parse import parse_wallet

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Shadows the repository-wide cache fixture: nothing here uses Django."""


@pytest.fixture
def world():
    return build_world()


def clients(world) -> dict:
    urls = sandbox_base_urls()

    def session() -> requests.Session:
        http = requests.Session()
        mount_sandbox(http, world)
        return http

    creds = SANDBOX_CREDENTIALS
    return {
        AIRHUB: AirHubClient(base_url=urls[AIRHUB], **creds[AIRHUB], cache=MemoryCache(), session=session()),
        ESIMCARD: ESimCardClient(
            base_url=urls[ESIMCARD], **creds[ESIMCARD], cache=MemoryCache(), session=session()
        ),
        TRAVELROAM: TravelRoamClient(
            base_url=urls[TRAVELROAM], **creds[TRAVELROAM], cache=MemoryCache(), session=session()
        ),
    }


@pytest.mark.parametrize("provider", [AIRHUB, ESIMCARD, TRAVELROAM])
def test_each_client_reads_its_wallet_as_decimal_with_currency(world, provider):
    world.set_wallet(provider, "42.17")

    balance = clients(world)[provider].wallet()

    assert isinstance(balance, WalletBalance)
    assert (balance.provider, balance.amount, balance.currency) == (provider, Decimal("42.17"), "USD")
    assert balance.as_of.tzinfo is not None


def _top_up(world, provider: str):
    client = clients(world)[provider]
    record = client.lookup(_demo(provider))
    request = TopUpRequest(
        iccid=record.iccid,
        esim_reference=record.reference,
        bundle_code=record.plan_code or "esim_1GB_7D_TR_V2",
        order_reference="RO-1",
        package_id=_package(world) if provider == ESIMCARD else None,
        duration_days=7,
        amount=Decimal("5.00"),
        currency="USD",
    )
    return client.top_up(request)


def _demo(provider: str) -> str:
    return {
        AIRHUB: "8944000000000000100",
        ESIMCARD: "8944000000000000209",
        TRAVELROAM: "8932042000010245583",
    }[provider]


def _package(world) -> str:
    return next(iter(world.data.card_packages))


@pytest.mark.parametrize("provider", [AIRHUB, ESIMCARD, TRAVELROAM])
def test_an_empty_wallet_refuses_the_top_up_as_insufficient_funds_and_a_full_one_pays(world, provider):
    world.set_wallet(provider, "0")
    with pytest.raises(ProviderInsufficientFunds) as caught:
        _top_up(world, provider)
    assert caught.value.provider == provider
    assert isinstance(caught.value, ProviderRejected)  # a definite refusal: refunded as before
    assert world.topups(provider) == []

    world.set_wallet(provider, "50")
    _top_up(world, provider)
    assert len(world.topups(provider)) == 1
    assert Decimal(world.wallets()[provider]) < Decimal("50")  # the top-up was debited


@pytest.mark.parametrize(
    "message",
    [
        "Insufficient Wallet Balance, please refill your wallet and try again",  # eSIMCard, verbatim
        "Insufficient balance to complete the order",  # eSIM Go style
        "renewal refused: Insufficient wallet balance. Please recharge your wallet to renew.",
        "HTTP 422: insufficient funds",
        "Your wallet balance is too low",
    ],
)
def test_each_providers_wording_is_recognised(message):
    assert means_insufficient_funds(message)
    funds = insufficient_funds_or_same(ProviderRejected("x", message, status_code=422))
    assert type(funds) is ProviderInsufficientFunds
    assert funds.status_code == 422


@pytest.mark.parametrize(
    "message", ["Invalid order", "Bundle not found", "This eSIM cannot be topped up", ""]
)
def test_other_refusals_stay_plain_rejections(message):
    error = ProviderRejected("x", message)
    assert insufficient_funds_or_same(error) is error


def test_an_auth_error_is_never_taken_for_an_empty_wallet():
    error = ProviderAuthError("x", "insufficient credit on login")
    assert insufficient_funds_or_same(error) is error


@pytest.mark.parametrize(
    ("body", "amount", "currency"),
    [
        ({"status": True, "balance": 0}, "0", "EUR"),  # eSIMCard's documented shape; no currency
        ({"isSuccess": True, "data": {"walletBalance": "12.50", "currency": "usd"}}, "12.50", "USD"),
        ({"data": [{"balance": 3}]}, "3", "EUR"),
        ({"organisations": [{"name": "x", "balance": 7.25, "currency": "GBP"}]}, "7.25", "GBP"),
        ({"organisation": {"balance": "1,5"}}, "1.5", "EUR"),
        ({"wallet": {"amount": 9}, "currency": "USD"}, "9", "USD"),
    ],
)
def test_balance_variants_are_read_defensively(body, amount, currency):
    balance = parse_wallet("p", body, "path", default_currency="EUR", as_of=NOW)
    assert (balance.amount, balance.currency) == (Decimal(amount), currency)


@pytest.mark.parametrize(
    "body", [{"status": True}, {"balance": "lots"}, [], "text", {"balance": True}, {"data": {"x": 1}}]
)
def test_an_answer_without_a_numeric_balance_is_invalid(body):
    with pytest.raises(ProviderResponseInvalid):
        parse_wallet("p", body, "path", default_currency="USD", as_of=NOW)
