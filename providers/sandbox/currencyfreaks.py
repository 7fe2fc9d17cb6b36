"""CurrencyFreaks simulator (providers.md §7.6). Base URL: ``<sandbox>/currencyfreaks``.

``GET /rates/latest?apikey=...&base=USD[&symbols=EUR,GBP]`` -> ``{"date", "base", "rates": {code: "<string>"}}``.
Rates are strings and there is no ``success`` key on success, as public client code reports. The error shape
``{"success": false, "error": {"status", "message"}}`` is unverified.
"""

from __future__ import annotations

from decimal import Decimal

from providers.sandbox.base import ProviderApp
from providers.sandbox.credentials import SANDBOX_CREDENTIALS
from providers.sandbox.wsgi import Request, Response, json_response

# Deterministic USD-based rates; other bases are computed as cross rates.
USD_RATES = {
    "USD": Decimal("1.0"),
    "EUR": Decimal("0.9200"),
    "GBP": Decimal("0.7900"),
    "CHF": Decimal("0.8800"),
    "CAD": Decimal("1.3600"),
    "AUD": Decimal("1.5200"),
    "JPY": Decimal("149.5000"),
    "TRY": Decimal("32.1000"),
    "INR": Decimal("83.2000"),
    "AED": Decimal("3.6725"),
}
_FOUR_PLACES = Decimal("0.0001")


def _error(status: int, message: str) -> Response:
    return json_response({"success": False, "error": {"status": status, "message": message}}, status)


def cross_rates(base: str, symbols: list[str] | None = None) -> dict[str, str]:
    base_rate = USD_RATES[base]
    rates = {}
    for code, usd_rate in USD_RATES.items():
        if symbols and code not in symbols:
            continue
        rates[code] = "1.0" if code == base else str((usd_rate / base_rate).quantize(_FOUR_PLACES))
    return rates


class CurrencyFreaksApp(ProviderApp):
    name = "currencyfreaks"

    def register(self) -> None:
        self.router.add("GET", "/rates/latest", self.latest)

    def check_auth(self, request: Request) -> Response | None:
        if request.query.get("apikey") == SANDBOX_CREDENTIALS["currencyfreaks"]["api_key"]:
            return None
        return self.auth_error()

    def auth_error(self) -> Response:
        return _error(401, "Invalid API key")

    def not_found(self) -> Response:
        return _error(404, "Not Found")

    def server_error(self) -> Response:
        return _error(500, "Internal Server Error")

    def latest(self, request: Request) -> Response:
        base = request.query.get("base", "USD").strip().upper() or "USD"
        if base not in USD_RATES:
            return _error(400, f"Base currency {base} is not supported")
        symbols = [
            code.strip().upper() for code in request.query.get("symbols", "").split(",") if code.strip()
        ]
        date = self.world.data.created_at.strftime("%Y-%m-%d 00:00:00+00")
        return json_response({"date": date, "base": base, "rates": cross_rates(base, symbols)})
