"""Currency metadata and money rounding/formatting shared by currency, pricing and payments.

- Amounts are `Decimal`, never float. `round_money` quantizes to the currency's minor unit (ISO 4217
  exponent: 2 for USD/EUR/GBP, 0 for JPY) with ROUND_HALF_UP, the rounding customers expect on a price.
- `format_money` is one display rule for every currency, because the published frontend shows the
  server's string as is: symbol before the amount, thousands separated by ",", decimal point ".", as many
  decimals as the currency has ("$10.00", "€8.50", "£7.90", "¥1,234"). Letter symbols get a space
  ("CHF 8.50"). EUR is therefore described with locale `en_IE` (euro, symbol first, decimal point), not
  `de_DE` ("8,50 €"), which would contradict the string we actually show.
- Which currencies customers may pay in is `settings.SUPPORTED_CURRENCIES` (default USD,EUR); the table
  below only lists what we know how to display. Adding GBP is a settings change, not a code change.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pulse.exceptions import UnsupportedCurrency

_DEFAULT_EXPONENT = 2  # ISO 4217's most common minor unit; used for codes not in the table


@dataclass(frozen=True)
class CurrencyInfo:
    code: str
    name: str
    symbol: str
    locale: str
    exponent: int  # digits after the decimal point in the currency's minor unit


CURRENCIES: dict[str, CurrencyInfo] = {
    info.code: info
    for info in (
        CurrencyInfo("USD", "US Dollar", "$", "en_US", 2),
        CurrencyInfo("EUR", "Euro", "€", "en_IE", 2),
        CurrencyInfo("GBP", "British Pound", "£", "en_GB", 2),
        CurrencyInfo("CHF", "Swiss Franc", "CHF", "de_CH", 2),
        CurrencyInfo("CAD", "Canadian Dollar", "CA$", "en_CA", 2),
        CurrencyInfo("AUD", "Australian Dollar", "A$", "en_AU", 2),
        CurrencyInfo("JPY", "Japanese Yen", "¥", "ja_JP", 0),
        CurrencyInfo("TRY", "Turkish Lira", "₺", "tr_TR", 2),
        CurrencyInfo("INR", "Indian Rupee", "₹", "en_IN", 2),
        CurrencyInfo("AED", "UAE Dirham", "AED", "en_AE", 2),
    )
}


def _configured_codes() -> list[str]:
    raw = settings.SUPPORTED_CURRENCIES
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    codes: list[str] = []
    for item in items:
        code = str(item).strip().upper()
        if code and code not in codes:
            codes.append(code)
    return codes


def supported_currencies() -> list[CurrencyInfo]:
    """The sale currencies, in the order of `SUPPORTED_CURRENCIES`."""
    codes = _configured_codes()
    unknown = [code for code in codes if code not in CURRENCIES]
    if unknown or not codes:
        raise ImproperlyConfigured(
            f"SUPPORTED_CURRENCIES lists {', '.join(unknown) or 'nothing'} that this service cannot "
            f"display; choose from {', '.join(CURRENCIES)}"
        )
    return [CURRENCIES[code] for code in codes]


def supported_codes() -> list[str]:
    return [info.code for info in supported_currencies()]


def require_supported(code: object) -> str:
    """The upper-cased code when customers may use it, else `UnsupportedCurrency` naming the choices."""
    normalized = str(code or "").strip().upper()
    supported = supported_codes()
    if normalized in supported:
        return normalized
    choices = ", ".join(supported)
    shown = normalized[:16] or "(empty)"
    raise UnsupportedCurrency(
        f"Unsupported currency {shown}; supported currencies: {choices}.",
        details=f"Use one of: {choices}.",
    )


def require_known(code: object) -> str:
    """The upper-cased code when we have rates and metadata for it (sale currency or not).

    For internal conversions such as a provider cost in GBP priced in USD; customer-facing input
    goes through `require_supported`.
    """
    normalized = str(code or "").strip().upper()
    if normalized in CURRENCIES:
        return normalized
    return require_supported(normalized)  # raises the same error, naming the sale currencies


def currency_info(currency: str | CurrencyInfo) -> CurrencyInfo:
    """Metadata for any code in the table (supported for sale or not); unknown codes get a plain default."""
    if isinstance(currency, CurrencyInfo):
        return currency
    code = str(currency).strip().upper()
    return CURRENCIES.get(code) or CurrencyInfo(code, code, code, "", _DEFAULT_EXPONENT)


def as_decimal(amount: Decimal | int) -> Decimal:
    """`amount` as a finite Decimal; floats are refused (TypeError), NaN/Infinity too (ValueError)."""
    if isinstance(amount, bool) or not isinstance(amount, Decimal | int):
        # Floats cannot hold 0.1 exactly; refusing them here catches the bug where it starts.
        raise TypeError(f"money amounts must be Decimal or int, not {type(amount).__name__}")
    value = Decimal(amount)
    if not value.is_finite():
        raise ValueError("money amounts must be finite")
    return value


def round_money(amount: Decimal | int, currency: str | CurrencyInfo) -> Decimal:
    """`amount` quantized to the currency's minor unit, half up: 8.505 EUR -> 8.51, 1234.5 JPY -> 1235."""
    exponent = currency_info(currency).exponent
    return as_decimal(amount).quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal | int, currency: str | CurrencyInfo) -> str:
    """Display string: "$10.00", "€8.50", "£7.90", "¥1,234", "CHF 8.50", "-$3.00"."""
    info = currency_info(currency)
    value = round_money(amount, info)
    number = f"{abs(value):,.{info.exponent}f}"
    separator = " " if info.symbol[-1:].isalpha() else ""
    sign = "-" if value < 0 else ""
    return f"{sign}{info.symbol}{separator}{number}"


def has_excess_precision(amount: Decimal, currency: str | CurrencyInfo) -> bool:
    """True when `amount` has non-zero digits below the currency's minor unit (10.001 USD, 10.5 JPY)."""
    return round_money(amount, currency) != amount
