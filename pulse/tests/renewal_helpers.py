"""Shared fixtures and helpers for the renewal tests (`test_renewal_*.py`; no conftest edits).

Fixtures are defined under `*_fixture` names (with `name=`) so that importing them into a test
module does not shadow the parameter names the tests use (ruff F811).

Two gateways drive the same code:
- the sandbox gateway (the test settings' default): sessions are `SandboxCheckout` rows and
  `sandbox_complete` plays the customer;
- the Stripe gateway pointed at the in-repo fake Stripe server (`stripe_gateway` fixture).
Provider top-ups go to the in-process simulators (`providers.sandbox`), which record each one.
"""

from __future__ import annotations

import json
import time
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.test import APIClient

from providers.sandbox import get_default_world, reset_default_world
from pulse.models import PaymentEvent, PaymentTransaction, RenewalOrder, SandboxRefund
from pulse.payments import get_gateway, signing
from pulse.payments.sandbox_gateway import sandbox_webhook_secret
from tests.fakes.stripe import start_fake_stripe

SEED_ICCID = "8932042000010245583"  # TravelRoam, plan "eSIM, 1GB, 7 Days, Turkey, V2"
UNKNOWN_ICCID = "8944000000000000605"  # valid Luhn, known to no provider
SEED_BUNDLE = "esim_1GB_7D_TR_V2"
SEED_BUNDLE_NAME = "eSIM, 1GB, 7 Days, Turkey, V2"
# The server price: TravelRoam's cost 1.23 USD x (1 + 30 % markup) = 1.599, rounded half up.
SERVER_PRICE = Decimal("1.60")
SERVER_PRICE_MINOR = 160
FRONTEND_URL = "https://renew.example.test"
SUCCESS_URL = f"{FRONTEND_URL}/renewal/success?session_id={{CHECKOUT_SESSION_ID}}"
CANCEL_URL = f"{FRONTEND_URL}/renewal/cancelled"
WEBHOOK_SECRET = "whsec_test_fake"
TOP_UP_PATH = "processorders"  # TravelRoam's top-up endpoint in the simulator

CREATE = "/api/esim/renewal/create/"
CONFIRM = "/api/esim/renewal/confirm-payment/"
OPTIONS = "/api/esim/renewal/options/"
WEBHOOK = "/api/esim/stripe/webhook/"

# The body the published frontend sends, exactly (contract §4): `amount` is always 10 and legacy.
FRONTEND_BODY: dict[str, Any] = {
    "iccid": SEED_ICCID,
    "provider": "TRAVELROAM",
    "order_sim_id": SEED_ICCID,
    "plan_name": SEED_BUNDLE_NAME,
    "amount": 10,
    "currency": "USD",
    "package_name": SEED_BUNDLE_NAME,
    "renewal_days": 7,
    "country_code": None,
}


def order_url(order_id: str) -> str:
    return f"/api/esim/renewal/order/{order_id}/"


# --- fixtures ----------------------------------------------------------------------------------------


@pytest.fixture(name="renewal_env")
def renewal_env_fixture(settings):
    """A fresh provider simulator world and deterministic renewal settings (sandbox gateway)."""
    settings.PAYMENT_GATEWAY = "sandbox"
    settings.FRONTEND_URL = FRONTEND_URL
    settings.RENEWAL_MARKUP_PERCENT = Decimal(30)
    settings.RENEWAL_AUTO_REFUND = True
    settings.STRIPE_WEBHOOK_SECRET = ""  # the sandbox derives its secret from SECRET_KEY
    world = reset_default_world()
    yield world
    reset_default_world()


@pytest.fixture(name="world")
def world_fixture(renewal_env):
    """The provider simulators' state: `world.topups()`, `world.set_fault(...)`."""
    return renewal_env


@pytest.fixture(name="api")
def api_fixture() -> APIClient:
    return APIClient()


@pytest.fixture(name="fake_stripe_server", scope="module")
def fake_stripe_server_fixture():
    server = start_fake_stripe()
    yield server
    server.stop()


@pytest.fixture(name="stripe_gateway")
def stripe_gateway_fixture(settings, renewal_env, fake_stripe_server):
    """PAYMENT_GATEWAY=stripe against the fake Stripe server (no webhook target unless a test sets one)."""
    fake_stripe_server.configure_webhook(None, None)
    fake_stripe_server.reset()
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = fake_stripe_server.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT = 5.0
    yield fake_stripe_server
    fake_stripe_server.configure_webhook(None, None)


# --- API calls ---------------------------------------------------------------------------------------


def create(client: APIClient, **overrides: Any):
    return client.post(CREATE, {**FRONTEND_BODY, **overrides}, format="json")


def create_as(client: APIClient, *, headers: dict | None = None, **overrides: Any):
    """Create with request headers too (e.g. {"HTTP_IDEMPOTENCY_KEY": ...})."""
    return client.post(CREATE, {**FRONTEND_BODY, **overrides}, format="json", **(headers or {}))


def create_order(client: APIClient, **overrides: Any) -> tuple[str, str]:
    """Create through the API; (order_id, session_id)."""
    response = create(client, **overrides)
    assert response.status_code == 201, response.json()
    body = response.json()
    return body["order"]["order_id"], body["payment"]["session_id"]


def confirm(client: APIClient, session_id: str):
    return client.post(CONFIRM, {"session_id": session_id}, format="json")


def post_webhook(client: APIClient, body: bytes, signature: str | None):
    extra = {} if signature is None else {"HTTP_STRIPE_SIGNATURE": signature}
    return client.generic("POST", WEBHOOK, body, content_type="application/json", **extra)


# --- playing the customer and the gateway -------------------------------------------------------------


def webhook_secret() -> str:
    """The secret the configured gateway verifies with."""
    return WEBHOOK_SECRET if get_gateway().name == "stripe" else sandbox_webhook_secret()


def sign(body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
    return signing.sign(body, secret or webhook_secret(), timestamp)


def sandbox_pay(session_id: str, outcome: str = "paid") -> bytes:
    """The customer finishes the sandbox checkout; returns the event body (deliver it with `sign`)."""
    _state, body, _signature = get_gateway().sandbox_complete(session_id, outcome)
    return body


def stripe_event_body(server, event_type: str, session_id: str | None = None) -> bytes:
    """The latest event of this type the fake Stripe recorded (optionally for one session), as JSON."""
    for event in reversed(server.state.events):
        obj = event["data"]["object"]
        if event["type"] == event_type and (session_id is None or obj.get("id") == session_id):
            return json.dumps(event).encode()
    raise AssertionError(f"fake Stripe recorded no {event_type} event")


def event_body(event_type: str, obj: dict[str, Any], event_id: str = "evt_test_1") -> bytes:
    """A Stripe-shaped event around `obj` (to sign and deliver)."""
    event = {
        "id": event_id,
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
    }
    return json.dumps(event).encode()


# --- reading what happened ----------------------------------------------------------------------------


def order_of(order_id: str) -> RenewalOrder:
    return RenewalOrder.objects.get(order_id=order_id)


def top_ups() -> list[dict[str, Any]]:
    """Top-ups the provider simulators actually carried out."""
    return get_default_world().topups()


def transactions(order: RenewalOrder, kind: str) -> list[tuple[str, str, Decimal, str]]:
    """(kind, status, amount, gateway reference) of the order's ledger rows of one kind."""
    return list(
        PaymentTransaction.objects.filter(order=order, kind=kind)
        .order_by("pk")
        .values_list("kind", "status", "amount", "gateway_reference")
    )


def charges(order: RenewalOrder) -> list[tuple[str, str, Decimal, str]]:
    return transactions(order, PaymentTransaction.Kind.CHARGE)


def refund_rows(order: RenewalOrder) -> list[tuple[str, str, Decimal, str]]:
    return transactions(order, PaymentTransaction.Kind.REFUND)


def sandbox_refunds() -> list[tuple[str, str, int, str]]:
    """(idempotency key, payment intent, amount in minor units, status) of every sandbox refund."""
    return list(
        SandboxRefund.objects.order_by("pk").values_list(
            "idempotency_key", "payment_intent_id", "amount_minor", "status"
        )
    )


def events() -> list[tuple[str, str, str, int]]:
    """(event id, type, result, deliveries) of every stored webhook event."""
    return list(PaymentEvent.objects.order_by("pk").values_list("event_id", "type", "result", "deliveries"))


def retry_inputs(order: RenewalOrder) -> dict[str, Any]:
    """What a later top-up attempt needs; no failure may overwrite it."""
    return {
        field: getattr(order, field)
        for field in (
            "iccid",
            "provider",
            "esim_reference",
            "bundle_code",
            "bundle_name",
            "package_id",
            "duration_days",
            "data_bytes",
            "amount",
            "currency",
        )
    }
