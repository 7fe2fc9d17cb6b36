"""The public shape of a status answer (contract §5).

The seed's keys stay display strings ("N/A" when unknown) because the published frontend renders
them raw; structured keys sit beside them. The public answer never holds a secret that lets a
stranger download the profile: `activation_code` is the SM-DP+ address only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from providers.base import BundleState, StatusCode, Usage
from providers.fanout import ProviderOutcome
from providers.merge import ORDER_ID_ORDER, PURCHASE_DATE_ORDER, MergedStatus
from providers.units import format_gb
from pulse.formatting import iso_utc

NA = "N/A"


def display_datetime(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else NA


def display_validity(days: int | None) -> str:
    if days is None:
        return NA
    return "1 day" if days == 1 else f"{days} days"


def consumed_bytes(usage: Usage | None) -> int | None:
    if usage is None:
        return None
    if usage.consumed_bytes is not None:
        return usage.consumed_bytes
    if usage.capacity_bytes is not None and usage.remaining_bytes is not None:
        return max(0, usage.capacity_bytes - usage.remaining_bytes)
    return None


def usage_display(usage: Usage | None) -> tuple[str, str, str]:
    """(data_capacity, data_consumed, data_remaining) as the seed showed them, in decimal GB."""
    if usage is None:
        return NA, NA, NA
    consumed = consumed_bytes(usage)
    if usage.unlimited:
        return "Unlimited", format_gb(consumed) if consumed is not None else NA, "Unlimited"
    return format_gb(usage.capacity_bytes), format_gb(consumed), format_gb(usage.remaining_bytes)


def usage_dict(usage: Usage | None) -> dict:
    usage = usage or Usage()
    return {
        "capacity_bytes": usage.capacity_bytes,
        "consumed_bytes": consumed_bytes(usage),
        "remaining_bytes": usage.remaining_bytes,
        "unlimited": usage.unlimited,
    }


def bundle_dict(bundle: BundleState) -> dict:
    return {
        "name": bundle.name,
        "description": bundle.description,
        "status_code": bundle.state.value,
        "status": bundle.state.label,
        "raw_state": bundle.raw_state,
        **usage_dict(bundle.usage),
        "assigned_at": iso_utc(bundle.assigned_at),
        "started_at": iso_utc(bundle.started_at),
        "expires_at": iso_utc(bundle.expires_at),
        "duration_days": bundle.duration_days,
    }


def present_status(merged: MergedStatus, outcomes: Mapping[str, ProviderOutcome], *, now: datetime) -> dict:
    primary = merged.primary
    capacity, consumed, remaining = usage_display(primary.usage)
    status: StatusCode = primary.status
    apn = merged.first("apn") or primary.network or merged.first("network")
    return {
        "iccid": merged.iccid,
        "status": status.label,
        "plan_name": merged.first("plan_name") or NA,
        "api_provider": primary.provider.upper(),
        "order_sim_id": merged.preferred("order_id", ORDER_ID_ORDER) or NA,
        "data_capacity": capacity,
        "data_consumed": consumed,
        "data_remaining": remaining,
        "validity": display_validity(merged.first("validity_days")),
        "purchase_date": display_datetime(merged.preferred("purchased_at", PURCHASE_DATE_ORDER)),
        "activation_code": merged.first("smdp_address") or NA,
        "apn": apn or NA,
        "last_updated": iso_utc(now),
        "status_code": status.value,
        "profile_status": primary.profile_status,
        "usage": usage_dict(primary.usage),
        "bundles": [bundle_dict(bundle) for bundle in primary.bundles],
        "expires_at": iso_utc(primary.expires_at),
        "country_code": merged.first("country_code"),
        "sources": {name: outcome.source for name, outcome in outcomes.items()},
        "source_details": {name: source_detail(outcome) for name, outcome in outcomes.items()},
        "cached": False,
    }


def source_detail(outcome: ProviderOutcome) -> dict:
    """What one provider said and when the data behind it was read (docs/status.md, "Data age")."""
    return {"outcome": outcome.source, "as_of": iso_utc(outcome.as_of) if outcome.as_of else None}


def with_ages(details: Mapping[str, dict], now: datetime | None = None) -> dict[str, dict]:
    """`source_details` with each source's `age_seconds` at the moment of answering (cached or not)."""
    now = now or datetime.now(UTC)
    return {
        name: {**detail, "age_seconds": _age(detail.get("as_of"), now)} for name, detail in details.items()
    }


def _age(as_of: str | None, now: datetime) -> int | None:
    if not as_of:
        return None
    return max(0, int((now - datetime.fromisoformat(as_of)).total_seconds()))
