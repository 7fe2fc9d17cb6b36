"""ICCID helpers: Luhn check digits for the synthetic ICCIDs of the sandbox dataset."""

from __future__ import annotations

# Luhn's "double the digit, subtract 9 if > 9", precomputed: building 30,000 filler ICCIDs stays fast.
_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_check_digit(payload: str) -> str:
    """Check digit that makes ``payload + digit`` Luhn-valid."""
    digits = [ord(char) - 48 for char in payload]
    # Right-to-left, the payload's last digit gets doubled (the check digit will sit to its right).
    total = sum(_DOUBLED[digit] for digit in digits[-1::-2]) + sum(digits[-2::-2])
    return str((10 - total % 10) % 10)


def is_luhn_valid(number: str) -> bool:
    return number.isdigit() and len(number) > 1 and luhn_check_digit(number[:-1]) == number[-1]


def make_iccid(prefix: str, serial: int, length: int = 19) -> str:
    """A Luhn-valid ICCID of ``length`` digits: prefix, zero-padded serial, check digit."""
    width = length - len(prefix) - 1
    payload = f"{prefix}{serial:0{width}d}"
    if len(payload) != length - 1:
        raise ValueError(f"serial {serial} does not fit after prefix {prefix!r}")
    return payload + luhn_check_digit(payload)
