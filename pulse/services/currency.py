"""Exchange rates and conversions (docs/currency.md).

A rate is looked up in this order, and `Rate.source` says which step answered:

1. `identity` — same currency, rate 1, no lookup.
2. `cached`   — the shared cache (`safe_cache`), filled by a fetch less than EXCHANGE_RATE_CACHE_SECONDS ago.
3. `live`     — one CurrencyFreaks call for the requested base. Every supported pair (direct, inverse and
                cross rates) is derived from that one answer, cached, and persisted to `ExchangeRate`.
4. `stale`    — the API failed, is throttled or not configured: the last good `ExchangeRate` row
                (or the inverse of the opposite row), with its age.
5. `fallback` — no rate was ever fetched: `FALLBACK_USD_RATES`, crossed through USD.

Client: with CURRENCYFREAKS_API_KEY the real API; with no key and ESIM_SANDBOX the in-process sandbox
simulator (deterministic rates); otherwise no client, and no outbound call at all.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DatabaseError, transaction
from django.dispatch import receiver
from django.utils import timezone

from providers.currencyfreaks import CurrencyFreaksClient, RatesSnapshot
from providers.errors import ProviderError
from providers.http import build_session
from pulse.models import ExchangeRate
from pulse.services.money import as_decimal, require_known, round_money, supported_codes
from pulse.services.safe_cache import safe_cache as cache

logger = logging.getLogger(__name__)

IDENTITY, LIVE, CACHED, STALE, FALLBACK = "identity", "live", "cached", "stale", "fallback"

# Used only when no rate was ever fetched (fresh install, API down or unconfigured). Mid-market levels
# of early 2024, the same as the sandbox simulator, so development and tests see one set of numbers.
# Units of each currency per 1 USD; any other pair is crossed through USD.
FALLBACK_USD_RATES: dict[str, Decimal] = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "GBP": Decimal("0.79"),
    "CHF": Decimal("0.88"),
    "CAD": Decimal("1.36"),
    "AUD": Decimal("1.52"),
    "JPY": Decimal("149.50"),
    "TRY": Decimal("32.10"),
    "INR": Decimal("83.20"),
    "AED": Decimal("3.6725"),
}

RATE_PLACES = Decimal("1E-10")  # ExchangeRate.rate has 10 decimal places
_MAX_RATE = Decimal("1E10")  # ... and 10 integer digits
CACHE_KEY = "fx:rates:{base}"
GUARD_KEY = "fx:fetch-guard:{base}"
# At most one fetch attempt per base every few seconds (shared cache across workers, and in-process
# after a failure), so an outage or an empty cache never turns into a burst of API calls.
FETCH_GUARD_SECONDS = 5


@dataclass(frozen=True)
class Rate:
    """1 `base` = `rate` `quote`. `age_seconds` is how old the rate is (None for identity/fallback)."""

    base: str
    quote: str
    rate: Decimal
    source: str
    fetched_at: datetime | None
    age_seconds: int | None


@dataclass(frozen=True)
class Conversion:
    original_amount: Decimal
    converted_amount: Decimal  # rounded once, to the quote currency's minor unit, half up
    from_currency: str
    to_currency: str
    rate: Rate


def exchange_rate(base: str, quote: str) -> Rate:
    """The best rate available now for `base` -> `quote`.

    Both must be currencies we know (`money.CURRENCIES`), not necessarily sale currencies: pricing
    converts provider costs. The API views restrict customers to `SUPPORTED_CURRENCIES` first.
    """
    base, quote = require_known(base), require_known(quote)
    if base == quote:
        return Rate(base, quote, Decimal(1), IDENTITY, None, None)
    return (
        _cached_rate(base, quote)
        or _live_rate(base, quote)
        or _stored_rate(base, quote)
        or _fallback_rate(base, quote)
    )


def convert_unrounded(amount: Decimal | int, base: str, quote: str) -> tuple[Decimal, Rate]:
    """`amount` in `quote`, not rounded: for pricing, which applies its markup before rounding once."""
    value = as_decimal(amount)
    rate = exchange_rate(base, quote)
    return value * rate.rate, rate


def convert(amount: Decimal | int, base: str, quote: str) -> Conversion:
    value = as_decimal(amount)
    converted, rate = convert_unrounded(value, base, quote)
    return Conversion(value, round_money(converted, rate.quote), rate.base, rate.quote, rate)


# --- time, cache ---------------------------------------------------------------------------------


def _now() -> datetime:
    return timezone.now()


def _age(fetched_at: datetime) -> int:
    return max(0, int((_now() - fetched_at).total_seconds()))


def _quantized(value: Decimal) -> Decimal | None:
    """A rate fit for `ExchangeRate.rate`, or None when it is out of range or rounds to zero."""
    if not value.is_finite() or value <= 0 or value >= _MAX_RATE:
        return None
    rate = value.quantize(RATE_PLACES)
    return rate if rate > 0 else None


def _cached_rate(base: str, quote: str) -> Rate | None:
    entry = cache.get(CACHE_KEY.format(base=base))
    try:
        rate = Decimal(entry["rates"][quote])
        fetched_at = datetime.fromisoformat(entry["fetched_at"])
    except (TypeError, KeyError, ValueError, ArithmeticError):
        return None  # a miss, or a value from an older layout: treat as a miss
    return Rate(base, quote, rate, CACHED, fetched_at, _age(fetched_at))


# --- live ----------------------------------------------------------------------------------------


def _live_rate(base: str, quote: str) -> Rate | None:
    client = _client()
    if client is None:
        return None
    # One fetch at a time per process: concurrent misses wait for it and then read the cache.
    if not _fetch_lock.acquire(timeout=_lock_wait_seconds()):
        return None
    try:
        cached = _cached_rate(base, quote)
        if cached is not None:
            return cached
        if not _may_fetch(base):
            return None
        snapshot = _fetch(client, base)
        if snapshot is None:
            return None
        fetched_at = _now()
        table = pair_table(snapshot, [*supported_codes(), base, quote])
        _remember(table, fetched_at)
    finally:
        _fetch_lock.release()
    rate = table.get((base, quote))
    return Rate(base, quote, rate, LIVE, fetched_at, 0) if rate is not None else None


def _lock_wait_seconds() -> float:
    return float(settings.PROVIDER_CONNECT_TIMEOUT) + float(settings.PROVIDER_TIMEOUT) + 1.0


def _may_fetch(base: str) -> bool:
    if time.monotonic() < _state["failed_until"].get(base, 0.0):
        return False
    return cache.add(GUARD_KEY.format(base=base), 1, FETCH_GUARD_SECONDS)


def _fetch(client: CurrencyFreaksClient, base: str) -> RatesSnapshot | None:
    try:
        return client.latest(base)
    except ProviderError as exc:
        _state["failed_until"][base] = time.monotonic() + FETCH_GUARD_SECONDS
        # exc.message never holds the API key (the client scrubs it); no traceback on purpose.
        logger.warning(
            "exchange rates for %s unavailable (%s: %s); serving stored or fallback rates",
            base,
            exc.code,
            exc.message,
            extra={"provider": client.name},
        )
        return None


def pair_table(snapshot: RatesSnapshot, codes: list[str]) -> dict[tuple[str, str], Decimal]:
    """Every ordered pair of `codes` from one snapshot: direct, inverse and cross rates."""
    rates = {snapshot.base: Decimal(1), **snapshot.rates}
    known = [code for code in dict.fromkeys(codes) if code in rates]
    table: dict[tuple[str, str], Decimal] = {}
    for base in known:
        for quote in known:
            rate = _quantized(rates[quote] / rates[base]) if base != quote else None
            if rate is not None:
                table[(base, quote)] = rate
    return table


def _remember(table: dict[tuple[str, str], Decimal], fetched_at: datetime) -> None:
    by_base: dict[str, dict[str, str]] = {}
    for (base, quote), rate in table.items():
        by_base.setdefault(base, {})[quote] = str(rate)
    for base, rates in by_base.items():
        entry = {"fetched_at": fetched_at.isoformat(), "rates": rates}
        cache.set(CACHE_KEY.format(base=base), entry, settings.EXCHANGE_RATE_CACHE_SECONDS)
    _persist(table, fetched_at)


def _persist(table: dict[tuple[str, str], Decimal], fetched_at: datetime) -> None:
    """Keep the last good rate of every pair for when the API fails (the `stale` source)."""
    try:
        with transaction.atomic():
            for (base, quote), rate in table.items():
                ExchangeRate.objects.update_or_create(
                    base=base,
                    quote=quote,
                    defaults={"rate": rate, "source": _state["source"], "fetched_at": fetched_at},
                )
    except DatabaseError:
        # The fresh rate is still served and cached; only the stale safety net misses this update.
        logger.warning("could not store %d exchange rate(s)", len(table), exc_info=True)


# --- stale, fallback -----------------------------------------------------------------------------


def _stored_rate(base: str, quote: str) -> Rate | None:
    try:
        rows = {
            (row.base, row.quote): row
            for row in ExchangeRate.objects.filter(base__in=(base, quote), quote__in=(base, quote))
        }
    except DatabaseError:
        logger.warning("could not read stored exchange rates", exc_info=True)
        return None
    direct, inverse = rows.get((base, quote)), rows.get((quote, base))
    if direct is not None:
        rate, fetched_at = direct.rate, direct.fetched_at
    elif inverse is not None:
        rate, fetched_at = _quantized(Decimal(1) / inverse.rate), inverse.fetched_at
    else:
        return None
    if rate is None:
        return None
    logger.info("serving stored %s->%s rate from %s", base, quote, fetched_at.isoformat())
    return Rate(base, quote, rate, STALE, fetched_at, _age(fetched_at))


def _fallback_rate(base: str, quote: str) -> Rate:
    rate = (FALLBACK_USD_RATES[quote] / FALLBACK_USD_RATES[base]).quantize(RATE_PLACES)
    logger.info("no exchange rate was ever fetched for %s->%s; using the built-in fallback", base, quote)
    return Rate(base, quote, rate, FALLBACK, None, None)


# --- client --------------------------------------------------------------------------------------

_fetch_lock = threading.Lock()
_state_lock = threading.Lock()
_state: dict = {"built": False, "client": None, "source": "currencyfreaks", "failed_until": {}}


def _client() -> CurrencyFreaksClient | None:
    with _state_lock:
        if not _state["built"]:
            _state["client"], _state["source"] = _build_client()
            _state["built"] = True
        return _state["client"]


def _build_client() -> tuple[CurrencyFreaksClient | None, str]:
    timeout = (float(settings.PROVIDER_CONNECT_TIMEOUT), float(settings.PROVIDER_TIMEOUT))
    if settings.CURRENCYFREAKS_API_KEY:
        client = CurrencyFreaksClient(
            base_url=settings.CURRENCYFREAKS_API_BASE_URL,
            api_key=settings.CURRENCYFREAKS_API_KEY,
            session=build_session(pool_size=4),
            timeout=timeout,
        )
        return client, "currencyfreaks"
    if settings.ESIM_SANDBOX:
        from providers.sandbox import SANDBOX_CREDENTIALS, mount_sandbox, sandbox_base_urls
        from pulse.services.providers import sandbox_world

        session = build_session(pool_size=4)
        mount_sandbox(session, sandbox_world())
        client = CurrencyFreaksClient(
            base_url=sandbox_base_urls()["currencyfreaks"],
            api_key=SANDBOX_CREDENTIALS["currencyfreaks"]["api_key"],
            session=session,
            timeout=timeout,
        )
        return client, "currencyfreaks-sandbox"
    logger.info(
        "CURRENCYFREAKS_API_KEY is not set and ESIM_SANDBOX is off: "
        "exchange rates come from stored rates or the built-in fallback table"
    )
    return None, "currencyfreaks"


def reset_rate_state() -> None:
    """Forget the client and the in-process failure back-off (settings changes, tests)."""
    with _state_lock:
        _state.update(built=False, client=None, source="currencyfreaks", failed_until={})


@receiver(setting_changed)
def _settings_changed(*, setting: str, **kwargs) -> None:
    if setting.startswith(("CURRENCYFREAKS_", "ESIM_SANDBOX", "PROVIDER_")):
        reset_rate_state()
