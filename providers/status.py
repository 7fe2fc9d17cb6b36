"""Mapping provider states onto our vocabulary and deriving one status per eSIM (docs/status.md).

Rule: the status comes from the current bundle first (a bundle with no data left inside its validity
is Depleted, not Active; one past its end is Expired), and only from the profile state when the
provider reports no bundle at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from providers.base import BundleState, StatusCode

# eSIM Go bundleState (TravelRoam is an eSIM Go white label); capitalisation varies across doc versions.
_BUNDLE_STATES = {
    "processing": StatusCode.PENDING,
    "queued": StatusCode.NOT_ACTIVE,
    "active": StatusCode.ACTIVE,
    "depleted": StatusCode.DEPLETED,
    "expired": StatusCode.EXPIRED,
    "lapsed": StatusCode.EXPIRED,
    "revoked": StatusCode.REVOKED,
    # eSIMCard package statuses and buckets
    "in_use": StatusCode.ACTIVE,
    "assigned": StatusCode.NOT_ACTIVE,
    "completed": StatusCode.EXPIRED,
    "finished": StatusCode.DEPLETED,
    "inactive": StatusCode.NOT_ACTIVE,
    "pending": StatusCode.PENDING,
}

# Profile (SIM) states: whether the eSIM is installed says little about its plan, so these only
# decide when no bundle is known.
_PROFILE_STATES = {
    "released": StatusCode.NOT_ACTIVE,
    "downloaded": StatusCode.NOT_ACTIVE,
    "installed": StatusCode.ACTIVE,
    "enabled": StatusCode.ACTIVE,
    "active": StatusCode.ACTIVE,
    "inactive": StatusCode.NOT_ACTIVE,
    "disabled": StatusCode.NOT_ACTIVE,
    "unavailable": StatusCode.REVOKED,
    "deactivated": StatusCode.REVOKED,
    "revoked": StatusCode.REVOKED,
    "deleted": StatusCode.REVOKED,
    "expired": StatusCode.EXPIRED,
}

# Which bundle is "current" when several are listed: live ones first, then what is coming,
# then history (most recent first within a rank).
_CURRENT_RANK = {
    StatusCode.ACTIVE: 0,
    StatusCode.DEPLETED: 1,
    StatusCode.PENDING: 2,
    StatusCode.NOT_ACTIVE: 3,
    StatusCode.UNKNOWN: 4,
    StatusCode.EXPIRED: 5,
    StatusCode.REVOKED: 6,
}


def bundle_state_code(raw: object) -> StatusCode:
    return _BUNDLE_STATES.get(str(raw or "").strip().lower().replace(" ", "_"), StatusCode.UNKNOWN)


def profile_state_code(raw: object) -> StatusCode:
    return _PROFILE_STATES.get(str(raw or "").strip().lower(), StatusCode.UNKNOWN)


def effective_bundle_state(bundle: BundleState, now: datetime) -> StatusCode:
    """Correct a provider state with the bundle's own dates and usage."""
    state = bundle.state
    live = state in (StatusCode.ACTIVE, StatusCode.DEPLETED, StatusCode.UNKNOWN)
    if live and bundle.expires_at and bundle.expires_at <= now:
        return StatusCode.EXPIRED
    usage = bundle.usage
    if (
        state in (StatusCode.ACTIVE, StatusCode.UNKNOWN)
        and usage is not None
        and not usage.unlimited
        and usage.remaining_bytes is not None
        and usage.remaining_bytes <= 0
        and (usage.capacity_bytes or 0) > 0
    ):
        return StatusCode.DEPLETED
    return state


def current_bundle(bundles: Iterable[BundleState], now: datetime) -> BundleState | None:
    """The bundle whose state and usage represent the eSIM now."""
    candidates = list(bundles)
    if not candidates:
        return None

    def sort_key(bundle: BundleState) -> tuple[int, float]:
        moment = bundle.started_at or bundle.assigned_at or bundle.expires_at
        return (_CURRENT_RANK[effective_bundle_state(bundle, now)], -(moment.timestamp() if moment else 0.0))

    return min(candidates, key=sort_key)


def derive_status(bundles: Iterable[BundleState], profile_status: object, now: datetime) -> StatusCode:
    bundle = current_bundle(bundles, now)
    if bundle is not None:
        state = effective_bundle_state(bundle, now)
        if state is not StatusCode.UNKNOWN:
            return state
    return profile_state_code(profile_status)
