"""CurrencyFreaks client: latest exchange rates for one base currency (providers.md §7.6).

`GET {base_url}/rates/latest?apikey=<key>&base=<CODE>` answers
`{"date": "2025-01-01 00:00:00+00", "base": "USD", "rates": {"EUR": "0.9278", ...}}`. Rates come as
strings (numbers are accepted too) and there is no `success` key on success. HTTP 402 means the plan's
quota is used up.

The API key travels in the query string because that is the only way CurrencyFreaks accepts it. It must
never reach a log line or an error message: `ProviderHttp` logs the path only (never the URL with its
query), and every error raised here is rebuilt with the key scrubbed and without the underlying
`requests` exception chained (a ConnectionError's text holds the full URL, key included).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import requests

from providers.errors import ProviderError, ProviderRejected, ProviderResponseInvalid
from providers.http import DEFAULT_TIMEOUT, ProviderHttp
from providers.units import parse_datetime

logger = logging.getLogger(__name__)

CURRENCYFREAKS = "currencyfreaks"
_LATEST_PATH = "rates/latest"
_QUOTA_EXCEEDED = 402
_REDACTED = "***"


@dataclass(frozen=True)
class RatesSnapshot:
    """One answer of `rates/latest`: 1 `base` = `rates[code]` units of `code`, every rate > 0."""

    base: str
    rates: dict[str, Decimal]
    date: datetime | None


def _currency_code(value: str) -> str:
    code = str(value or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise ValueError(f"not an ISO 4217 currency code: {value!r}")
    return code


def parse_rate(value: Any) -> Decimal | None:
    """A positive finite Decimal from a string or a number, else None. `Decimal(str(x))` keeps 0.1 exact."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        return None
    try:
        rate = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    if not rate.is_finite() or rate <= 0:
        return None
    return rate


class CurrencyFreaksClient:
    """Plain-Python client (no Django). Raises only `providers.errors`."""

    name = CURRENCYFREAKS

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self._http = ProviderHttp(self.name, base_url, session=session, timeout=timeout)
        self._api_key = api_key

    def latest(self, base: str) -> RatesSnapshot:
        """Every rate CurrencyFreaks knows for `base`; one call fills every pair with that base."""
        code = _currency_code(base)
        # Reference: https://currencyfreaks.com/documentation.html (latest rates endpoint)
        try:
            result = self._http.request(
                "GET",
                _LATEST_PATH,
                params={"apikey": self._api_key, "base": code},
                not_found_statuses=(),  # no "unknown object" on this endpoint: a 404 is a rejection
            )
        except ProviderError as exc:
            raise self._scrubbed(exc) from None
        return self._parse(result.body, code)

    def _scrubbed(self, exc: ProviderError) -> ProviderError:
        """The same error type without the key in its text and without the chained requests error."""
        message = exc.message
        if self._api_key:
            message = message.replace(self._api_key, _REDACTED)
        if exc.status_code == _QUOTA_EXCEEDED:
            return ProviderRejected(self.name, f"quota exceeded ({message})", status_code=exc.status_code)
        return type(exc)(self.name, message, status_code=exc.status_code, retry_after=exc.retry_after)

    def _parse(self, body: Any, requested: str) -> RatesSnapshot:
        if not isinstance(body, dict) or not isinstance(body.get("rates"), dict):
            raise ProviderResponseInvalid(self.name, f"{_LATEST_PATH} answered without a 'rates' object")
        answered = str(body.get("base") or requested).strip().upper()
        if answered != requested:
            raise ProviderResponseInvalid(
                self.name, f"{_LATEST_PATH} answered base {answered[:8]!r} for {requested}"
            )
        rates, skipped = {}, []
        for code, value in body["rates"].items():
            rate = parse_rate(value)
            if isinstance(code, str) and len(code.strip()) == 3 and rate is not None:
                rates[code.strip().upper()] = rate
            else:
                skipped.append(str(code)[:8])
        if skipped:
            # Not fatal: one odd entry must not cost every other currency its rate.
            logger.warning(
                "currencyfreaks: skipped %d unusable rate(s) for base %s: %s",
                len(skipped),
                requested,
                ", ".join(skipped[:20]),
                extra={"provider": self.name},
            )
        if not rates:
            raise ProviderResponseInvalid(self.name, f"{_LATEST_PATH} answered no usable rate")
        return RatesSnapshot(base=requested, rates=rates, date=parse_datetime(body.get("date")))
