"""Units, quantities and timestamps as the providers send them, turned into bytes and aware UTC.

Decimal units throughout our answers: 1 GB = 10**9 bytes, so a 1 GB bundle shows "1.00 GB" (the
original divided decimal bytes by 1024**3 and showed 0.93 GB). eSIMCard reports its GB/MB figures
in binary units (its own spec example shows a 10**9-byte plan as 0.9313 GB), so its quantities are
converted with binary multipliers before display.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

KB, MB, GB, TB = 10**3, 10**6, 10**9, 10**12
KIB, MIB, GIB, TIB = 2**10, 2**20, 2**30, 2**40

_DECIMAL_UNITS = {"B": 1, "KB": KB, "MB": MB, "GB": GB, "TB": TB}
_BINARY_UNITS = {"B": 1, "KB": KIB, "MB": MIB, "GB": GIB, "TB": TIB, "KIB": KIB, "MIB": MIB, "GIB": GIB}
_UNLIMITED = {"unlimited", "unlimited plus", "∞"}
_DAYS = re.compile(r"(\d+)\s*(?:d\b|days?\b)?", re.IGNORECASE)


def is_unlimited(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() in _UNLIMITED


def to_decimal(value: object) -> Decimal | None:
    """A number from an int, float or numeric string ("3.61", "1,5"); None when absent or not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    text = str(value).strip().replace(",", ".")
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def quantity_to_bytes(value: object, unit: object = "GB", *, binary: bool = False) -> int | None:
    """Bytes for `value` `unit`; None for unknown, empty or "Unlimited" (the caller flags unlimited)."""
    number = to_decimal(value)
    if number is None:
        return None
    table = _BINARY_UNITS if binary else _DECIMAL_UNITS
    multiplier = table.get(str(unit or "GB").strip().upper())
    if multiplier is None:
        return None
    return int((number * multiplier).to_integral_value())


def parse_days(value: object) -> int | None:
    """Days from 7, "7", "7 days", "7D"; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    match = _DAYS.search(str(value))
    return int(match.group(1)) if match else None


def parse_datetime(value: object) -> datetime | None:
    """Aware UTC datetime from ISO 8601, "YYYY-MM-DD HH:MM:SS" (taken as UTC), a date, or epoch ms/s."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        return _from_epoch(float(value))
    text = str(value).strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return _parse_other_formats(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _from_epoch(number: float) -> datetime | None:
    if number <= 0:
        return None
    seconds = number / 1000 if number > 10**11 else number  # ms since the epoch vs seconds
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_other_formats(text: str) -> datetime | None:
    for pattern in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y %I:%M:%S %p", "%Y/%m/%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def format_gb(num_bytes: int | None) -> str:
    """ "1.00 GB" style display string in decimal gigabytes."""
    if num_bytes is None:
        return "N/A"
    return f"{Decimal(num_bytes) / GB:.2f} GB"
