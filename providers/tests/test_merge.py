from datetime import UTC, datetime

from providers.base import EsimRecord, StatusCode, Usage
from providers.merge import merge_records

ICCID = "8944000000000000506"
SOLD = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def airhub(**overrides) -> EsimRecord:
    values = {
        "provider": "airhub",
        "iccid": ICCID,
        "reference": "7000001|2026-11-01",
        "order_id": "7000001",
        "status": StatusCode.ACTIVE,
        "plan_name": "Greece 2GB 10 Days",
        "purchased_at": SOLD,
        "apn": "internet",
        "usage": Usage(capacity_bytes=2 * 10**9),
    }
    values.update(overrides)
    return EsimRecord(**values)


def travelroam(**overrides) -> EsimRecord:
    values = {
        "provider": "travelroam",
        "iccid": ICCID,
        "reference": ICCID,
        "status": StatusCode.ACTIVE,
        "plan_name": "eSIM, 2GB, 10 Days, Greece, V2",
        "usage": Usage(capacity_bytes=2 * 10**9, remaining_bytes=15 * 10**8),
        "network": "Cosmote (GR)",
        "smdp_address": "smdp.example.net",
        "purchased_at": datetime(2026, 11, 1, 9, 31, tzinfo=UTC),
    }
    values.update(overrides)
    return EsimRecord(**values)


def test_network_side_usage_wins_over_the_reseller_and_the_reseller_keeps_its_order():
    merged = merge_records(ICCID, {"airhub": airhub(), "travelroam": travelroam()})
    assert merged.provider == "travelroam"
    assert merged.first("plan_name") == "eSIM, 2GB, 10 Days, Greece, V2"
    assert merged.preferred("order_id", ("airhub", "esimcard")) == "7000001"
    assert merged.preferred("purchased_at", ("airhub", "esimcard", "travelroam")) == SOLD
    assert merged.first("apn") == "internet"


def test_a_record_with_usage_beats_one_without_even_if_lower_in_the_order():
    merged = merge_records(
        ICCID,
        {
            "airhub": airhub(usage=Usage(capacity_bytes=2 * 10**9, remaining_bytes=10**9)),
            "travelroam": travelroam(status=StatusCode.UNKNOWN, usage=None),
        },
    )
    assert merged.provider == "airhub"


def test_primary_fills_gaps_from_others():
    merged = merge_records(ICCID, {"airhub": airhub(), "travelroam": travelroam(plan_name=None)})
    assert merged.provider == "travelroam"
    assert merged.first("plan_name") == "Greece 2GB 10 Days"


def test_single_provider():
    merged = merge_records(ICCID, {"airhub": airhub()})
    assert merged.provider == "airhub"
    assert merged.first("smdp_address") is None
