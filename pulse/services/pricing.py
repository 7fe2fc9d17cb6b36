"""Retail prices, decided by the server only (docs/catalogue.md, "Pricing").

price = provider cost x (1 + RENEWAL_MARKUP_PERCENT / 100), converted into the sale currency and
rounded once to that currency's minor unit (half up) — or the staff override, converted the same way.
Decimal throughout; the client never decides a price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from pulse.models import Bundle
from pulse.services.currency import convert_unrounded
from pulse.services.money import CURRENCIES, require_supported, round_money

HUNDRED = Decimal(100)


class UnpriceableBundle(ValueError):
    """The bundle has no usable cost (a catalogue problem staff must fix)."""


@dataclass(frozen=True)
class Quote:
    bundle_code: str
    amount: Decimal
    currency: str
    base_amount: Decimal
    base_currency: str
    exchange_rate: Decimal
    rate_source: str
    override: bool


def base_price(bundle: Bundle) -> tuple[Decimal, str, bool]:
    """(amount, currency, is_override) before conversion."""
    if bundle.retail_price_override is not None:
        return bundle.retail_price_override, (bundle.override_currency or bundle.cost_currency).upper(), True
    markup = Decimal(settings.RENEWAL_MARKUP_PERCENT)
    return bundle.cost * (1 + markup / HUNDRED), bundle.cost_currency.upper(), False


def quote_bundle(bundle: Bundle, currency: str) -> Quote:
    currency = require_supported(currency)
    amount, base_currency, override = base_price(bundle)
    if amount <= 0:
        raise UnpriceableBundle(f"{bundle} has no positive cost or override")
    if base_currency not in CURRENCIES:
        # A catalogue or override currency we have no rates for is staff's problem, not a bad
        # request: without this the customer would get "unsupported currency" for asking in EUR.
        raise UnpriceableBundle(
            f"{bundle} is priced in {base_currency or '(no currency)'}, which has no rates"
        )
    converted, rate = convert_unrounded(amount, base_currency, currency)
    final = round_money(converted, currency)
    if final <= 0:
        raise UnpriceableBundle(f"{bundle} rounds to a zero price in {currency}")
    return Quote(
        bundle_code=bundle.code,
        amount=final,
        currency=currency,
        base_amount=amount,
        base_currency=base_currency,
        exchange_rate=rate.rate,
        rate_source=rate.source,
        override=override,
    )
