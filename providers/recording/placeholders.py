"""Fake values that keep the shape of the real ones they replace (docs/providers.md, "Recordings").

A recording must still parse after redaction, so every fake looks like what it replaces: an ICCID
stays an 89-prefixed, Luhn-correct ICCID of the same length; a UUID stays a UUID; a numeric id keeps
its digit count (and its JSON type); an e-mail address stays an address; anything else keeps its
pattern of letters, digits and punctuation. Fakes come from a counter, never from the real value, so
a fake reveals nothing about its original (hashing a 4-digit PIN would be reversible).
"""

from __future__ import annotations

import itertools
import random
import re
import string
import threading

from providers.iccid import luhn_valid

ICCID_PATTERN = re.compile(r"(?<!\d)89\d{16,20}(?!\d)")
UUID_PATTERN = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b")
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+")
FAKE_EMAIL_DOMAIN = "example.com"
_MARKED_ATTEMPTS = 3
_ATTEMPTS = 50  # past this (a one-letter secret), two values may share a fake: still no leak


def luhn_digit(payload: str) -> str:
    """The check digit that makes `payload + digit` pass the Luhn check."""
    return next(digit for digit in string.digits if luhn_valid(payload + digit))


def fake_iccid(length: int, serial: int) -> str:
    """`8900…<serial><check>`: 89-prefixed, Luhn-correct, `length` digits, obviously not issued."""
    body = str(serial).rjust(length - 5, "0")
    payload = f"8900{body}"[: length - 1]
    return payload + luhn_digit(payload)


def fake_uuid(serial: int) -> str:
    return f"00000000-0000-4000-8000-{serial:012d}"


def fake_digits(length: int, serial: int) -> str:
    """A `length`-digit number starting with 9 (no leading zero, so it survives int())."""
    body = str(serial)
    return "9" + body.rjust(length - 1, "0") if len(body) < length else body


def _letters(serial: int) -> str:
    """The serial in base 26 (a, b, ... z, ba, ...)."""
    out = ""
    while True:
        serial, digit = divmod(serial, 26)
        out = string.ascii_lowercase[digit] + out
        if serial == 0:
            return out


def fake_marked(value: str, serial: int) -> str:
    """Same length and pattern, spelled so nobody (and no secret scanner) takes it for a real one:
    letters from "fake<serial in letters>", digits from the serial, punctuation kept."""
    letters, digits = itertools.cycle("fake" + _letters(serial)), itertools.cycle(str(serial))
    out = []
    for char in value:
        if char.isascii() and char.isdigit():
            out.append(next(digits))
        elif char.isascii() and char.isalpha():
            letter = next(letters)
            out.append(letter.upper() if char.isupper() else letter)
        else:
            out.append(char)
    return "".join(out)


def fake_like(value: str, serial: int) -> str:
    """Same length and the same pattern of upper case, lower case, digits and punctuation."""
    # Seeded by the counter only, so nothing of `value` leaks into the fake; not a security RNG on purpose.
    rng = random.Random(serial)  # noqa: S311
    out = []
    for char in value:
        if char.isdigit():
            out.append(rng.choice(string.digits))
        elif char.isupper():
            out.append(rng.choice(string.ascii_uppercase))
        elif char.isalpha():
            out.append(rng.choice(string.ascii_lowercase))
        else:
            out.append(char)
    return "".join(out)


class FakeBook:
    """real value -> fake, consistent for one recording: the same value always gets the same fake,
    whichever rule found it (a UUID in a path and in a body, an ICCID in a list and in a message).

    Lives in memory only: the mapping itself is as sensitive as the values and is never written.
    """

    def __init__(self) -> None:
        self._fakes: dict[str, str] = {}
        self._taken: set[str] = set()
        self._serial = 0
        self._lock = threading.Lock()

    def fake(self, real: str) -> str:
        with self._lock:
            known = self._fakes.get(real)
            if known is not None:
                return known
            for attempt in range(_ATTEMPTS):
                self._serial += 1
                candidate = self._make(real, self._serial, marked=attempt < _MARKED_ATTEMPTS)
                if candidate != real and candidate not in self._taken and candidate not in self._fakes:
                    break
            self._fakes[real] = candidate
            self._taken.add(candidate)
            return candidate

    def get(self, real: str) -> str | None:
        with self._lock:
            return self._fakes.get(real)

    def is_fake(self, value: str) -> bool:
        with self._lock:
            return value in self._taken

    def items(self) -> list[tuple[str, str]]:
        """(real, fake) pairs, longest real value first (so a value inside another is replaced last)."""
        with self._lock:
            return sorted(self._fakes.items(), key=lambda pair: -len(pair[0]))

    @staticmethod
    def _make(real: str, serial: int, *, marked: bool) -> str:
        if ICCID_PATTERN.fullmatch(real):
            return fake_iccid(len(real), serial)
        if UUID_PATTERN.fullmatch(real):
            return fake_uuid(serial)
        if real.isdigit() and real.isascii():
            return fake_digits(len(real), serial) if real[0] != "0" else fake_like(real, serial)
        if EMAIL_PATTERN.fullmatch(real):
            return f"person{serial}@{FAKE_EMAIL_DOMAIN}"
        # Marked fakes can collide for values with few letters and digits; random ones then.
        return fake_marked(real, serial) if marked else fake_like(real, serial)
