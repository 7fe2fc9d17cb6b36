"""Reading a wallet balance out of a provider answer, defensively (providers.md §2.2, §3.1, §4.2).

Only eSIMCard's `GET /balance` shape is documented (`{"status": true, "balance": 0}`); AirHub's
GetWallet and TravelRoam's organisation details are Unverified, so the balance is looked for under the
usual names, at the top level, under `data`/`organisation`/`result`, or in the first element of a list
there. A recording settles each (providers/recording/allowlist.py lists the wallet reads).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from providers.base import WalletBalance
from providers.errors import ProviderResponseInvalid
from providers.units import to_decimal

BALANCE_KEYS = (
    "balance",
    "walletBalance",
    "wallet_balance",
    "availableBalance",
    "available_balance",
    "currentBalance",
    "creditBalance",
    "wallet",
    "amount",
)
CURRENCY_KEYS = ("currency", "currencyCode", "currency_code", "walletCurrency")
CONTAINERS = ("data", "organisation", "organization", "organisations", "organizations", "result", "wallet")
_MAX_DEPTH = 3


def _lookup(mapping: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    lowered = {str(key).lower(): value for key, value in mapping.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value is not None and value != "":
            return value
    return None


def _find(body: Any, depth: int = 0) -> tuple[Decimal, str | None] | None:
    """(amount, currency or None) from the first object that carries a numeric balance."""
    if depth > _MAX_DEPTH:
        return None
    if isinstance(body, list):
        return _find(body[0], depth + 1) if body else None
    if not isinstance(body, Mapping):
        return None
    raw = _lookup(body, BALANCE_KEYS)
    if isinstance(raw, Mapping | list):  # {"wallet": {"balance": ...}}
        found = _find(raw, depth + 1)
        if found is not None:
            return found[0], found[1] or _currency(body)
    else:
        amount = to_decimal(raw)
        if amount is not None:
            return amount, _currency(body)
    for name in CONTAINERS:
        inner = _lookup(body, (name,))
        if isinstance(inner, Mapping | list):
            found = _find(inner, depth + 1)
            if found is not None:
                return found[0], found[1] or _currency(body)
    return None


def _currency(mapping: Mapping[str, Any]) -> str | None:
    value = _lookup(mapping, CURRENCY_KEYS)
    if isinstance(value, str) and value.strip().isalpha() and len(value.strip()) == 3:
        return value.strip().upper()
    return None


def parse_wallet(
    provider: str, body: Any, path: str, *, default_currency: str, as_of: datetime
) -> WalletBalance:
    """The balance in `body`, or ProviderResponseInvalid when no numeric balance is found."""
    found = _find(body)
    if found is None:
        raise ProviderResponseInvalid(provider, f"{path} answered without a numeric balance")
    amount, currency = found
    return WalletBalance(provider, amount, currency or default_currency.upper(), as_of)
