"""ICCID normalisation, validation and masking (contract §4: "ICCID input")."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[\s\-]+")
MIN_LENGTH = 18
MAX_LENGTH = 22


class IccidError(ValueError):
    """The input is not a valid ICCID; the message says which rule failed."""


def normalize_iccid(raw: object) -> str:
    """Strip spaces and dashes. Does not validate."""
    return _SEPARATORS.sub("", str(raw or ""))


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def validate_iccid(raw: object, *, require_luhn: bool = True) -> str:
    """Return the normalised ICCID or raise IccidError naming the rule that failed."""
    iccid = normalize_iccid(raw)
    if not iccid:
        raise IccidError("ICCID is required.")
    if not iccid.isdigit() or not iccid.isascii():
        raise IccidError("ICCID must contain digits only (spaces and dashes are ignored).")
    if not MIN_LENGTH <= len(iccid) <= MAX_LENGTH:
        raise IccidError(f"ICCID must be {MIN_LENGTH} to {MAX_LENGTH} digits long, got {len(iccid)}.")
    if not iccid.startswith("89"):
        raise IccidError("ICCID must start with 89 (the telecom industry identifier).")
    if require_luhn and not luhn_valid(iccid):
        raise IccidError("ICCID check digit is wrong (Luhn check failed); please re-type the number.")
    return iccid


def mask_iccid(iccid: object) -> str:
    """First 6 and last 4 digits only, for logs: 893204*********5583."""
    value = normalize_iccid(iccid)
    if len(value) <= 10:
        return "*" * len(value)
    return f"{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"
