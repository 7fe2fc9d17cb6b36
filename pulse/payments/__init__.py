"""Payment gateways behind one interface (docs/payments.md).

    from pulse.payments import CheckoutRequest, GatewayUnavailable, get_gateway
    info = get_gateway().create_checkout(CheckoutRequest(...))

`get_gateway()` builds the gateway named by `settings.PAYMENT_GATEWAY` once per process and forgets it
when a relevant setting changes (tests' override_settings). Nothing here reads settings at import time,
and `stripe` is only imported when the Stripe gateway is built.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

from pulse.payments.base import (
    STRIPE_API_VERSION,
    CheckoutInfo,
    CheckoutNotFound,
    CheckoutRequest,
    CheckoutState,
    GatewayError,
    GatewayEvent,
    GatewayRejected,
    GatewayUnavailable,
    InvalidSignature,
    PaymentGateway,
    RefundInfo,
)
from pulse.payments.minor_units import from_minor, to_minor

__all__ = [
    "STRIPE_API_VERSION",
    "CheckoutInfo",
    "CheckoutNotFound",
    "CheckoutRequest",
    "CheckoutState",
    "GatewayError",
    "GatewayEvent",
    "GatewayRejected",
    "GatewayUnavailable",
    "InvalidSignature",
    "PaymentGateway",
    "RefundInfo",
    "from_minor",
    "get_gateway",
    "reset_gateways",
    "to_minor",
]

GATEWAY_NAMES = ("stripe", "sandbox")
# Settings a built gateway has read; changing any of them (override_settings) rebuilds it.
_RESET_ON = frozenset({"PAYMENT_GATEWAY", "SANDBOX_PAYMENTS_ALLOWED", "DEBUG", "SECRET_KEY"})

_lock = threading.Lock()
_gateways: dict[str, PaymentGateway] = {}


def get_gateway(name: str | None = None) -> PaymentGateway:
    """The configured gateway (or the one named, e.g. an older order's `gateway`), built once.

    Raises ImproperlyConfigured when it cannot be built: Stripe without a secret key, the sandbox
    with DEBUG off and SANDBOX_PAYMENTS_ALLOWED unset, or an unknown name.
    """
    name = name or settings.PAYMENT_GATEWAY
    gateway = _gateways.get(name)
    if gateway is None:
        with _lock:
            gateway = _gateways.get(name)
            if gateway is None:
                gateway = _gateways[name] = _build(name)
    return gateway


def _build(name: str) -> PaymentGateway:
    if name == "stripe":
        from pulse.payments.stripe_gateway import StripeGateway

        return StripeGateway()
    if name == "sandbox":
        from pulse.payments.sandbox_gateway import SandboxGateway

        return SandboxGateway()
    raise ImproperlyConfigured(
        f"Unknown payment gateway {name!r}; expected one of {', '.join(GATEWAY_NAMES)}."
    )


def reset_gateways() -> None:
    """Forget the built gateways; the next get_gateway() builds from the current settings."""
    with _lock:
        _gateways.clear()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in _RESET_ON or setting.startswith("STRIPE_"):
        reset_gateways()


setting_changed.connect(_on_setting_changed, dispatch_uid="pulse.payments.reset_gateways")
