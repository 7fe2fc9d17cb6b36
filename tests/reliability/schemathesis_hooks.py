"""Schemathesis hooks for this API: how to generate an ICCID the schema's `format: iccid` describes.

JSON Schema can state an ICCID's digits, length and prefix (the `pattern`), but not its Luhn check
digit, so the schema names the rule as `format: iccid` and this strategy generates numbers that obey
it, typed as customers type them (digits, sometimes grouped with spaces or dashes). Without it, a
fuzzer's "valid" ICCIDs fail the Luhn check nine times in ten and the server rightly answers 400.

Loaded by the suite's fuzzing test, and by `schemathesis run` started from the repository root
(`schemathesis.toml` names this module), e.g.:
    .venv/bin/schemathesis run http://127.0.0.1:8000/api/schema/ --checks all
Only hypothesis and schemathesis are imported here (no Django).
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st


def luhn_check_digit(payload: str) -> str:
    """The digit that makes `payload + digit` pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(payload)):
        value = int(char)
        if index % 2 == 0:  # doubled: these sit at odd positions once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


@st.composite
def iccids(draw) -> str:
    length = draw(st.integers(min_value=18, max_value=22))
    body = "89" + draw(st.text(alphabet="0123456789", min_size=length - 3, max_size=length - 3))
    digits = body + luhn_check_digit(body)
    separator = draw(st.sampled_from(["", "", "", " ", "-"]))
    if not separator:
        return digits
    return separator.join(digits[i : i + 4] for i in range(0, len(digits), 4))


schemathesis.openapi.format("iccid", iccids())
