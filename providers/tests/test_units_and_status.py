from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from providers.base import BundleState, StatusCode, Usage
from providers.status import bundle_state_code, current_bundle, derive_status, profile_state_code
from providers.units import (
    format_gb,
    is_unlimited,
    parse_datetime,
    parse_days,
    quantity_to_bytes,
    to_decimal,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def test_a_decimal_gigabyte_shows_as_one_gb_not_093():
    assert format_gb(1_000_000_000) == "1.00 GB"
    assert format_gb(0) == "0.00 GB"
    assert format_gb(None) == "N/A"


@pytest.mark.parametrize(
    ("value", "unit", "binary", "expected"),
    [
        (1, "GB", False, 10**9),
        ("0.5", "gb", False, 5 * 10**8),
        (500, "MB", False, 5 * 10**8),
        ("0.9313", "GB", True, 999_975_761),
        (1, "GB", True, 2**30),
        (512, "MB", True, 512 * 2**20),
        ("1,5", "GB", False, 15 * 10**8),
        ("Unlimited", "GB", True, None),
        ("", "GB", False, None),
        (1, "parsecs", False, None),
    ],
)
def test_quantity_to_bytes(value, unit, binary, expected):
    assert quantity_to_bytes(value, unit, binary=binary) == expected


def test_unlimited_and_decimal_helpers():
    assert is_unlimited("Unlimited")
    assert is_unlimited(" unlimited ")
    assert not is_unlimited("10")
    assert to_decimal("3.61") == Decimal("3.61")
    assert to_decimal("abc") is None
    assert to_decimal(True) is None
    assert to_decimal("NaN") is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1762045260000, datetime(2025, 11, 2, 1, 1, tzinfo=UTC)),
        ("1762045260000", datetime(2025, 11, 2, 1, 1, tzinfo=UTC)),
        ("2025-11-09T01:01:00Z", datetime(2025, 11, 9, 1, 1, tzinfo=UTC)),
        ("2025-06-16T11:38:46.000000Z", datetime(2025, 6, 16, 11, 38, 46, tzinfo=UTC)),
        ("2025-06-16 07:38:46", datetime(2025, 6, 16, 7, 38, 46, tzinfo=UTC)),
        ("2025-06-16T09:38:46+02:00", datetime(2025, 6, 16, 7, 38, 46, tzinfo=UTC)),
        ("16/06/2025", datetime(2025, 6, 16, tzinfo=UTC)),
        ("", None),
        ("not a date", None),
        (None, None),
    ],
)
def test_parse_datetime_is_always_aware_utc(value, expected):
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(("value", "expected"), [(7, 7), ("7", 7), ("7 days", 7), ("30D", 30), ("x", None)])
def test_parse_days(value, expected):
    assert parse_days(value) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("processing", StatusCode.PENDING),
        ("Queued", StatusCode.NOT_ACTIVE),
        ("ACTIVE", StatusCode.ACTIVE),
        ("depleted", StatusCode.DEPLETED),
        ("lapsed", StatusCode.EXPIRED),
        ("revoked", StatusCode.REVOKED),
        ("whatever", StatusCode.UNKNOWN),
    ],
)
def test_bundle_states(raw, code):
    assert bundle_state_code(raw) is code


def test_profile_states():
    assert profile_state_code("Released") is StatusCode.NOT_ACTIVE
    assert profile_state_code("Installed") is StatusCode.ACTIVE
    assert profile_state_code("Unavailable") is StatusCode.REVOKED


def bundle(state: StatusCode, *, remaining=None, capacity=10**9, started=None, ends=None, unlimited=False):
    return BundleState(
        name="b",
        state=state,
        usage=Usage(capacity_bytes=capacity, remaining_bytes=remaining, unlimited=unlimited),
        started_at=started,
        expires_at=ends,
    )


def test_depleted_within_validity_is_depleted_not_active():
    active_but_empty = bundle(StatusCode.ACTIVE, remaining=0, ends=NOW + timedelta(days=3))
    assert derive_status([active_but_empty], "Installed", NOW) is StatusCode.DEPLETED


def test_active_past_its_end_is_expired():
    stale = bundle(StatusCode.ACTIVE, remaining=5, ends=NOW - timedelta(minutes=1))
    assert derive_status([stale], "Installed", NOW) is StatusCode.EXPIRED


def test_unlimited_with_no_remaining_figure_stays_active():
    assert (
        derive_status([bundle(StatusCode.ACTIVE, capacity=None, unlimited=True)], None, NOW)
        is StatusCode.ACTIVE
    )


def test_the_live_bundle_wins_over_older_history():
    old = bundle(StatusCode.EXPIRED, remaining=0, started=NOW - timedelta(days=30))
    live = bundle(
        StatusCode.ACTIVE, remaining=10, started=NOW - timedelta(days=1), ends=NOW + timedelta(days=6)
    )
    assert current_bundle([old, live], NOW) is live
    assert derive_status([old, live], "Installed", NOW) is StatusCode.ACTIVE


def test_a_queued_renewal_after_an_expired_bundle_reads_not_active():
    old = bundle(StatusCode.EXPIRED, remaining=0)
    queued = bundle(StatusCode.NOT_ACTIVE)
    assert derive_status([old, queued], "Installed", NOW) is StatusCode.NOT_ACTIVE


def test_profile_decides_only_without_bundles():
    assert derive_status([], "Released", NOW) is StatusCode.NOT_ACTIVE
    assert derive_status([], None, NOW) is StatusCode.UNKNOWN
