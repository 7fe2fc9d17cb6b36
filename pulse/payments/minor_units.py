"""Decimal amounts <-> Stripe's integer minor units, from an explicit per-currency table.

Stripe wants every amount as an integer in the currency's *Stripe* minor unit (payments.md §1.9,
https://docs.stripe.com/currencies). That is not always ISO 4217 / CLDR precision, so we never ask
babel or the platform: babel 2.19 says HUF, ISK and UGX have 0 digits, and code that trusted it
charged 100x too little (WordPress/wordcamp.org#1320, stripe/stripe-android#13265).

Each entry is ``(exponent, step)``: the amount is multiplied by ``10**exponent`` and the result must
be a multiple of ``step`` (in minor units). A currency that is not in the table is refused, so a new
sale currency is a deliberate edit here plus a test, never a silent guess.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple


class MinorUnit(NamedTuple):
    exponent: int  # amount x 10**exponent = Stripe integer
    step: int  # the Stripe integer must be a multiple of this


_TWO = MinorUnit(2, 1)
_ZERO = MinorUnit(0, 1)
# Stripe's three-decimal currencies: sent x1000, but the last digit must be 0 (round to 0.010).
_THREE = MinorUnit(3, 10)
# Stripe's special cases (https://docs.stripe.com/currencies#special-cases):
# - ISK and UGX became zero-decimal, but for backwards compatibility Stripe still expects them as
#   two-decimal values whose decimals are always 00 (5 ISK -> 500). So: x100, whole units only.
# - HUF is charged as a two-decimal currency (fractions allowed; only payouts need whole forints).
_WHOLE_UNITS_SENT_X100 = MinorUnit(2, 100)

_TWO_DECIMAL = (
    "AED AUD BGN BRL CAD CHF CNY CZK DKK EUR GBP HKD IDR ILS INR MAD MXN MYR NOK NZD PHP PLN QAR "
    "RON SAR SEK SGD THB TRY TWD USD ZAR"
)
# Stripe's zero-decimal list minus UGX (special case above).
_ZERO_DECIMAL = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF VND VUV XAF XOF XPF"
_THREE_DECIMAL = "BHD JOD KWD OMR TND"

STRIPE_MINOR_UNITS: dict[str, MinorUnit] = {
    **dict.fromkeys(_TWO_DECIMAL.split(), _TWO),
    **dict.fromkeys(_ZERO_DECIMAL.split(), _ZERO),
    **dict.fromkeys(_THREE_DECIMAL.split(), _THREE),
    "HUF": _TWO,
    "ISK": _WHOLE_UNITS_SENT_X100,
    "UGX": _WHOLE_UNITS_SENT_X100,
}


def minor_unit(currency: str) -> MinorUnit:
    """The table entry for ``currency`` (any case); ValueError for a currency we do not handle."""
    code = (currency or "").strip().upper()
    try:
        return STRIPE_MINOR_UNITS[code]
    except KeyError:
        raise ValueError(
            f"Currency {currency!r} is not in the Stripe minor-unit table (pulse/payments/minor_units.py)."
        ) from None


def is_supported(currency: str) -> bool:
    return (currency or "").strip().upper() in STRIPE_MINOR_UNITS


def to_minor(amount: Decimal | int, currency: str) -> int:
    """``Decimal("12.99"), "USD" -> 1299``; ``Decimal("500"), "JPY" -> 500``; ``5, "ISK" -> 500``.

    Rounds half up to the currency's smallest chargeable step. Floats are refused: a price that has
    been through binary floating point may already be off by a cent.
    """
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        raise TypeError(f"amount must be a Decimal or an int, not {type(amount).__name__}")
    unit = minor_unit(currency)
    value = Decimal(amount)
    if not value.is_finite() or value < 0:
        raise ValueError(f"amount must be a finite, non-negative number, got {amount!r}")
    steps = (value.scaleb(unit.exponent) / unit.step).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(steps) * unit.step


def from_minor(minor: int, currency: str) -> Decimal:
    """``1299, "USD" -> Decimal("12.99")``; ``500, "ISK" -> Decimal("5.00")``; ``1230, "KWD" -> Decimal("1.230")``."""
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise TypeError(f"minor must be an int, not {type(minor).__name__}")
    unit = minor_unit(currency)
    return Decimal(minor).scaleb(-unit.exponent).quantize(Decimal(1).scaleb(-unit.exponent))
