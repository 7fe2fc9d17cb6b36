"""Validation of request parameters shared by the API resources, with Stripe's error messages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.stripe.errors import FakeStripeError


def int_param(value: Any, param: str, *, minimum: int) -> int:
    if value is None or value == "":
        raise FakeStripeError(400, f"Missing required param: {param}.", param=param)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise FakeStripeError(400, f"Invalid integer: {value}", param=param) from None
    if number < minimum:
        raise FakeStripeError(400, f"Invalid {param}: must be at least {minimum}", param=param)
    return number


def metadata(raw: Any, param: str) -> dict[str, str]:
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, dict) or len(raw) > 50:
        raise FakeStripeError(400, f"Invalid {param}: expected an object of at most 50 keys", param=param)
    for key, value in raw.items():
        if not isinstance(value, str) or len(key) > 40 or len(value) > 500:
            raise FakeStripeError(400, f"Invalid {param}[{key}]: strings only (40/500 chars)", param=param)
    return {key: value for key, value in raw.items() if value != ""}  # "" unsets a key in Stripe


def expand_paths(params: Mapping[str, Any]) -> set[str]:
    expand = params.get("expand") or []
    return {expand} if isinstance(expand, str) else set(expand)


def check_unknown(params: Mapping[str, Any], allowed: frozenset[str], prefix: str = "") -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        name = f"{prefix}[{unknown[0]}]" if prefix else unknown[0]
        raise FakeStripeError(400, f"Received unknown parameter: {name}", param=name)
