"""Typed readers for settings that come from the environment (or `.env`).

Settings read the environment only through these helpers, so that every name is parsed the same
way and a bad value fails at start-up with a message naming the variable.
"""

from __future__ import annotations

import os
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str = "", *, keep_blank: bool = False) -> str:
    """A string setting. A blank value (as `.env.example` lists most names) means the default,
    unless `keep_blank` says blank is meaningful (e.g. LOG_FILE= turns file logging off)."""
    raw = os.environ.get(name)
    if raw is None or (not raw.strip() and not keep_blank):
        return default
    return raw.strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    # An empty value (as `.env.example` ships them) means "use the default", never "false".
    if raw is None or not raw.strip():
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")


def env_optional_bool(name: str) -> bool | None:
    """A boolean that may be left unset, so the caller can derive a default from other settings."""
    if os.environ.get(name, "").strip() == "":
        return None
    return env_bool(name, False)


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from exc


def env_decimal(name: str, default: str) -> Decimal:
    raw = os.environ.get(name, "").strip() or default
    try:
        return Decimal(raw)
    except InvalidOperation as exc:
        raise ImproperlyConfigured(f"{name} must be a decimal number, got {raw!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    raw = os.environ.get(name, "").strip() or default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_amounts(name: str, keys: tuple[str, ...]) -> dict[str, Decimal]:
    """`key=amount` pairs, comma separated (`airhub=50,esimcard=20`); a bare amount applies to every key
    not named (`25,airhub=50`). Unset: {}. Amounts are decimals of at least 0."""
    amounts: dict[str, Decimal] = {}
    default: Decimal | None = None
    for item in env_list(name):
        key, sep, raw = item.partition("=")
        key, raw = (key.strip().lower(), raw.strip()) if sep else ("", key.strip())
        if sep and key not in keys:
            raise ImproperlyConfigured(f"{name}: unknown name {key!r}; use {', '.join(keys)}")
        try:
            amount = Decimal(raw)
        except InvalidOperation as exc:
            raise ImproperlyConfigured(f"{name}: {raw!r} is not a decimal number") from exc
        if not amount.is_finite() or amount < 0:
            raise ImproperlyConfigured(f"{name}: amounts must be numbers of at least 0, got {raw!r}")
        if sep:
            amounts[key] = amount
        else:
            default = amount
    if default is not None:
        amounts = {key: amounts.get(key, default) for key in keys}
    return amounts
