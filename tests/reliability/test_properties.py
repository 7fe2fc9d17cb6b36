"""Properties (hypothesis) of the three parsers every answer and every charge go through:
ICCID validation and masking, plan-name parsing, and money rounding / Stripe minor units.

Derandomized with a fixed example budget, so CI runs the same examples every time.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from providers.countries import name_for_iso
from providers.iccid import IccidError, luhn_valid, mask_iccid, normalize_iccid, validate_iccid
from providers.plans import PlanSpec, parse_bundle_code, parse_plan_name
from providers.units import GB, MB
from pulse.payments.minor_units import STRIPE_MINOR_UNITS, from_minor, minor_unit, to_minor
from pulse.services.money import CURRENCIES, round_money

PROPERTIES = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# --- ICCIDs -------------------------------------------------------------------------------------------


def luhn_complete(body: str) -> str:
    """`body` plus the check digit that makes it pass the Luhn check."""
    return next(body + digit for digit in "0123456789" if luhn_valid(body + digit))


@st.composite
def valid_iccids(draw) -> str:
    length = draw(st.integers(min_value=18, max_value=22))
    body = "89" + draw(st.text(alphabet="0123456789", min_size=length - 3, max_size=length - 3))
    return luhn_complete(body)


@st.composite
def with_separators(draw, digits: str) -> str:
    """The same digits as a person might type them: spaces and dashes anywhere, any number of them."""
    out = []
    for char in digits:
        out.append(draw(st.text(alphabet=" -\t", max_size=2)))
        out.append(char)
    out.append(draw(st.text(alphabet=" -", max_size=2)))
    return "".join(out)


ANYTHING = st.one_of(
    st.text(),
    st.text(alphabet="0123456789 -", max_size=30),
    st.integers(),
    st.floats(allow_nan=True),
    st.none(),
    st.binary(max_size=30),
    st.lists(st.integers(), max_size=3),
)


@PROPERTIES
@given(raw=ANYTHING)
def test_validate_iccid_raises_nothing_but_iccid_error(raw):
    try:
        result = validate_iccid(raw)
    except IccidError:
        return
    assert result.isdigit()
    assert result.isascii()
    assert 18 <= len(result) <= 22
    assert result.startswith("89")
    assert luhn_valid(result)


@PROPERTIES
@given(data=st.data(), iccid=valid_iccids())
def test_every_luhn_valid_89_number_of_18_to_22_digits_is_accepted_however_it_is_typed(data, iccid):
    typed = data.draw(with_separators(iccid))

    assert validate_iccid(typed) == iccid
    assert normalize_iccid(typed) == iccid


@PROPERTIES
@given(iccid=valid_iccids(), position=st.integers(min_value=2, max_value=21), delta=st.integers(1, 9))
def test_a_mistyped_digit_is_caught_by_the_check_digit(iccid, position, delta):
    assume(position < len(iccid))
    wrong = iccid[:position] + str((int(iccid[position]) + delta) % 10) + iccid[position + 1 :]
    with pytest.raises(IccidError, match="Luhn"):
        validate_iccid(wrong)


@PROPERTIES
@given(iccid=valid_iccids())
def test_a_masked_iccid_keeps_only_the_first_6_and_last_4_digits(iccid):
    masked = mask_iccid(iccid)

    assert len(masked) == len(iccid)
    assert masked[:6] == iccid[:6]
    assert masked[-4:] == iccid[-4:]
    assert set(masked[6:-4]) == {"*"}
    assert not re.search(r"\d{11}", masked)  # never enough digits in a row to be (part of) an ICCID


# --- plan names ---------------------------------------------------------------------------------------

NO_DIGITS = st.text(alphabet=st.characters(codec="ascii", exclude_categories=("Nd", "Cc")), max_size=25)
# Countries whose English name holds no other country's name ("Papua New Guinea" also names Guinea).
SIMPLE_COUNTRIES = ["TR", "ES", "FR", "DE", "IT", "JP", "US", "BR", "TH", "PT", "GR", "MX", "AU", "EG", "KE"]


@PROPERTIES
@given(text=st.one_of(st.text(), st.text(alphabet="0123456789GBMDays ,._-UVTR", max_size=40)))
def test_parse_plan_name_never_crashes(text):
    spec = parse_plan_name(text)

    assert isinstance(spec, PlanSpec)
    assert spec.data_bytes is None or spec.data_bytes >= 0
    assert not (spec.unlimited and spec.data_bytes is not None)
    assert isinstance(parse_bundle_code(text), PlanSpec)


@PROPERTIES
@given(
    n=st.integers(min_value=1, max_value=999),
    before=NO_DIGITS,
    after=NO_DIGITS,
    space=st.sampled_from(["", " "]),
)
def test_n_gb_is_read_as_n_times_10_to_the_9_and_never_as_another_amount(n, before, after, space):
    text = f"{before} {n}{space}GB {after}"

    spec = parse_plan_name(text)

    # Only an "unlimited" somewhere in the text may hide the amount; it never becomes another number.
    assert spec.data_bytes in (None, n * GB)
    if "unlimited" not in text.lower():
        assert spec.data_bytes == n * GB


@PROPERTIES
@given(
    amount=st.one_of(
        st.integers(1, 100).map(lambda n: (n, "GB", n * GB)), st.sampled_from([(500, "MB", 500 * MB)])
    ),
    days=st.integers(min_value=1, max_value=365),
    iso=st.sampled_from(SIMPLE_COUNTRIES),
    version=st.integers(min_value=1, max_value=9),
)
def test_esim_go_names_and_codes_round_trip(amount, days, iso, version):
    number, unit, data_bytes = amount
    description = f"eSIM, {number}{unit}, {days} Days, {name_for_iso(iso)}, V{version}"
    code = f"esim_{number}{unit}_{days}D_{iso}_V{version}"

    for spec in (parse_plan_name(description), parse_plan_name(code), parse_bundle_code(code)):
        assert (spec.data_bytes, spec.days, spec.countries, spec.variant) == (
            data_bytes,
            days,
            (iso,),
            f"V{version}",
        ), spec.raw
        assert not spec.unlimited


# --- money --------------------------------------------------------------------------------------------

AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False, allow_infinity=False)
DISPLAY_CURRENCIES = sorted(CURRENCIES)
STRIPE_CURRENCIES = sorted(STRIPE_MINOR_UNITS)


@PROPERTIES
@given(amount=AMOUNTS, currency=st.sampled_from(DISPLAY_CURRENCIES))
def test_round_money_is_idempotent_and_within_half_a_minor_unit(amount, currency):
    exponent = CURRENCIES[currency].exponent
    rounded = round_money(amount, currency)

    assert round_money(rounded, currency) == rounded
    assert abs(rounded - amount) <= Decimal(5).scaleb(-exponent - 1)
    assert rounded.as_tuple().exponent == -exponent


@PROPERTIES
@given(amount=AMOUNTS, currency=st.sampled_from(STRIPE_CURRENCIES))
def test_to_minor_is_the_nearest_chargeable_step_and_round_trips(amount, currency):
    unit = minor_unit(currency)
    minor = to_minor(amount, currency)

    assert minor % unit.step == 0
    # Within half a step of the exact amount, in minor units.
    assert abs(Decimal(minor) - amount.scaleb(unit.exponent)) <= Decimal(unit.step) / 2
    back = from_minor(minor, currency)
    assert to_minor(back, currency) == minor  # minor units -> amount -> minor units is exact
    assert back.as_tuple().exponent == -unit.exponent


@PROPERTIES
@given(a=AMOUNTS, b=AMOUNTS, currency=st.sampled_from(STRIPE_CURRENCIES))
def test_to_minor_never_charges_more_for_less(a, b, currency):
    low, high = sorted((a, b))
    assert to_minor(low, currency) <= to_minor(high, currency)


@PROPERTIES
@given(amount=AMOUNTS, currency=st.sampled_from([c for c in DISPLAY_CURRENCIES if c in STRIPE_MINOR_UNITS]))
def test_the_price_shown_is_the_price_charged(amount, currency):
    # A price rounded for display and the same price sent to Stripe are the same number of minor units.
    shown = round_money(amount, currency)
    assert to_minor(shown, currency) == to_minor(amount, currency)
    assert from_minor(to_minor(amount, currency), currency) == shown
