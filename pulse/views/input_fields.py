"""Input fields whose OpenAPI schema says exactly what the server accepts (docs/reliability.md §4).

Clients generate code from `/api/schema/`, and the fuzzing test checks both directions: a request
valid by the schema is accepted (never a 400), and one the schema rejects is refused. DRF's fields
are more lenient than the schema drf-spectacular writes for them (CharField takes numbers and trims
spaces before checking the length, IntegerField takes "7", DecimalField is documented as a string
but takes numbers), so each field here validates by the very rule its schema publishes: the same
regular expression (matched with `re.search`, as schema validators do), the same types and bounds.

Two rules cannot be written in JSON Schema and are described instead: the ICCID's Luhn check digit
(`format: iccid`; `tests/reliability/schemathesis_hooks.py` teaches the fuzzer to generate valid
ones) and, for a zero-decimal sale currency such as JPY, the amount's decimals per currency.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from pulse.services.money import supported_currencies

DEMO_ICCID = "8932042000010245583"  # the README's TravelRoam seed eSIM (sandbox)
NO_NUL = r"^[^\x00]*$"  # DRF refuses NUL in any string, and PostgreSQL text cannot hold it
ICCID_MAX_LENGTH = 64
# 18-22 digits starting with 89, with any spaces and dashes between them (both are ignored), at most
# 64 characters in all. The length lives in the pattern, not in minLength/maxLength, so that a fuzzer
# makes its length-boundary cases from `format: iccid` (Luhn-valid) rather than from this pattern.
ICCID_PATTERN = rf"^(?![\s\S]{{{ICCID_MAX_LENGTH + 1}}})[\s-]*8[\s-]*9(?:[\s-]*[0-9]){{16,20}}[\s-]*$"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,255}$"  # Stripe and sandbox ids: cs_test_…, sbx_cs_…
MAX_AMOUNT = Decimal("1000000")


class StrictCharField(serializers.CharField):
    """A JSON string, checked as sent: no number turned into text, no spaces trimmed before the
    length is checked (the schema's maxLength counts them too)."""

    def __init__(self, *, pattern: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        self.pattern = pattern or NO_NUL
        self._compiled = re.compile(self.pattern)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if self.pattern != NO_NUL and not self._compiled.search(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class IccidField(StrictCharField):
    """An ICCID as a customer types it. Presence and the ICCID rules are checked by the status
    service, which names the broken rule (400 invalid_iccid); the schema states those rules."""

    default_error_messages = {
        "max_length": f"Ensure this field has no more than {ICCID_MAX_LENGTH} characters."
    }

    def __init__(self, **kwargs: Any) -> None:
        # The length is checked here, not by a max_length validator, so that the schema carries it in
        # the pattern only (see ICCID_PATTERN).
        kwargs.setdefault("help_text", "18-22 digits starting with 89, with a valid Luhn check digit")
        super().__init__(**kwargs)

    def get_value(self, dictionary: Any) -> Any:
        value = super().get_value(dictionary)
        return "" if value is serializers.empty else value

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":
            return ""  # absent or blank: the service answers "ICCID is required." (invalid_iccid)
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        if len(data) > ICCID_MAX_LENGTH:
            self.fail("max_length")
        return serializers.CharField.to_internal_value(self, data)


class CurrencyField(StrictCharField):
    """A sale currency; the service checks it against SUPPORTED_CURRENCIES (400 unsupported_currency)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 16)
        super().__init__(**kwargs)


def legacy_text_field(max_length: int) -> StrictCharField:
    """Optional text the published frontend sends and the server only keeps for the record."""
    return StrictCharField(required=False, allow_blank=True, allow_null=True, max_length=max_length)


class StrictEmailField(serializers.EmailField):
    """An e-mail address as a JSON string, at most 254 characters (surrounding spaces are ignored)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 254)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (7, or 7.0): not "7", not true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        if isinstance(data, float) and not data.is_integer():
            self.fail("invalid")
        return super().to_internal_value(data)


class MoneyAmountField(serializers.Field):
    """Greater than 0, at most 1,000,000, at most the sale currencies' decimals; a JSON number or a
    decimal string ("10", "10.50"). Never NaN, Infinity, an exponent or float noise."""

    default_error_messages = {
        "invalid": "A valid number is required.",
        "min_value": "Must be greater than zero.",
        "max_value": f"Must not exceed {MAX_AMOUNT}.",
        "max_decimal_places": "Too many decimal places for this currency.",
    }

    def to_internal_value(self, data: Any) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, str | int | float):
            self.fail("invalid")
        if isinstance(data, str) and not re.search(amount_string_pattern(), data):
            self.fail(_why_not_an_amount(data))
        value = _decimal(data)
        if value is None:
            self.fail("invalid")
        if value <= 0:
            self.fail("min_value")
        if value > MAX_AMOUNT:
            self.fail("max_value")
        if -value.as_tuple().exponent > amount_places():
            self.fail("max_decimal_places")
        return value

    def to_representation(self, value: Decimal) -> str:
        return str(value)


def sale_currency_codes() -> list[str]:
    return [info.code for info in supported_currencies()]


def amount_places() -> int:
    """The most decimals any sale currency has (2 for USD/EUR)."""
    return max(info.exponent for info in supported_currencies())


def amount_string_pattern() -> str:
    """A decimal string, > 0 and <= 1,000,000, with at most `amount_places()` decimals."""
    places = amount_places()
    fraction = rf"(?:\.[0-9]{{1,{places}}})?" if places else ""
    zeros = rf"(?:\.0{{1,{places}}})?" if places else ""
    return rf"^(?:(?=[0-9.]*[1-9])[0-9]{{1,6}}{fraction}|1000000{zeros})$"


def _decimal(data: str | int | float) -> Decimal | None:
    text = str(data).strip()
    try:
        value = Decimal(text) if len(text) <= 32 else Decimal("NaN")
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _why_not_an_amount(text: str) -> str:
    """The most helpful message for a string outside the pattern (same checks as for numbers)."""
    value = _decimal(text)
    if value is None or not re.fullmatch(r"\s*[-+]?[0-9]+(?:\.[0-9]+)?\s*", text):
        return "invalid"
    if value <= 0:
        return "min_value"
    if value > MAX_AMOUNT:
        return "max_value"
    if -value.as_tuple().exponent > amount_places():
        return "max_decimal_places"
    return "invalid"


# --- the schema each field publishes ----------------------------------------------------------------


def _base(auto_schema, field, direction) -> dict:
    return auto_schema._map_serializer_field(field, direction, bypass_extensions=True)


class StrictCharFieldSchema(OpenApiSerializerFieldExtension):
    target_class = StrictCharField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = _base(auto_schema, self.target, direction)
        if isinstance(self.target, IccidField):
            schema.pop("minLength", None)
            schema.update(
                format="iccid",
                pattern=ICCID_PATTERN,
                description=(
                    "18-22 digits starting with 89 whose last digit is the Luhn check digit (unless the "
                    "server runs with ICCID_REQUIRE_LUHN=false); spaces and dashes are ignored."
                ),
                example=DEMO_ICCID,
            )
        elif isinstance(self.target, CurrencyField):
            schema.pop("pattern", None)
            schema["enum"] = sale_currency_codes()
            schema.setdefault("example", schema["enum"][0])
        else:
            schema["pattern"] = self.target.pattern
        return schema


class MoneyAmountFieldSchema(OpenApiSerializerFieldExtension):
    target_class = MoneyAmountField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        places = amount_places()
        number = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": int(MAX_AMOUNT)}
        if places:
            number["multipleOf"] = float(Decimal(1).scaleb(-places))
        else:
            number["type"] = "integer"
        text = {"type": "string", "pattern": amount_string_pattern(), "example": "10.00"}
        schema: dict = {"oneOf": [number, text], "example": 10}
        if self.target.allow_null:
            schema["nullable"] = True
        return schema


def amount_parameter_schema() -> dict:
    """The convert amount as a query parameter (always text there)."""
    return {"type": "string", "pattern": amount_string_pattern(), "example": "10.00"}


def currency_parameter_schema() -> dict:
    codes = sale_currency_codes()
    return {"type": "string", "enum": codes, "example": codes[0]}
