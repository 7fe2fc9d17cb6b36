"""Fixtures and helpers for the admin, staff-action and e-mail tests (no conftest edits).

Orders are real: created through the API for the sandbox demo eSIM (TravelRoam, "eSIM, 1GB, 7 Days,
Turkey, V2"), paid on the sandbox checkout page by a staff member (the tests run with DEBUG off, where
only staff may press Pay; the same webhook path as Stripe), and topped up at
the in-process provider simulator, which a test can make refuse. Fixtures are defined under
`*_fixture` names so importing them does not shadow the parameter names tests use (ruff F811).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from providers.sandbox import SandboxWorld, reset_default_world
from pulse.models import OrderAuditEntry, OrderStatus, RenewalOrder
from pulse.services import currency, fulfilment

S = OrderStatus
DEMO_ICCID = "8932042000010245583"
DEMO_BUNDLE = "esim_1GB_7D_TR_V2"
DEMO_BUNDLE_NAME = "eSIM, 1GB, 7 Days, Turkey, V2"
TOP_UP_PATH = "processorders"  # TravelRoam's top-up endpoint in the simulator
CUSTOMER = "traveller@example.com"
ADMIN_ORDERS = "/admin/pulse/renewalorder/"


@pytest.fixture(name="sandbox_world")
def sandbox_world_fixture(settings):
    """Fresh simulators, the sandbox gateway and the documented pricing (1.23 USD cost -> $1.60)."""
    settings.ESIM_SANDBOX = True
    settings.PAYMENT_GATEWAY = "sandbox"
    settings.STRIPE_WEBHOOK_SECRET = ""
    settings.CURRENCYFREAKS_API_KEY = ""
    settings.RENEWAL_MARKUP_PERCENT = Decimal(30)
    settings.RENEWAL_AUTO_REFUND = True
    settings.SUPPORTED_CURRENCIES = ["USD", "EUR"]
    world = reset_default_world()
    currency.reset_rate_state()
    yield world
    reset_default_world()
    currency.reset_rate_state()


@pytest.fixture(name="staff_user")
def staff_user_fixture(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")


@pytest.fixture(name="staff_client")
def staff_client_fixture(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def sandbox_cashier() -> Client:
    """A staff member's browser: with DEBUG off only staff may press Pay on the sandbox checkout page."""
    user, _created = get_user_model().objects.get_or_create(
        username="sandbox-cashier", defaults={"is_staff": True, "email": "cashier@example.com"}
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(name="customer_client")
def customer_client_fixture(db) -> Client:
    """Logged in, but not staff."""
    user = get_user_model().objects.create_user("customer", "customer@example.com", "pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


def paid_order(
    world: SandboxWorld,
    *,
    refuse_top_up: bool = False,
    stop_after_failure: bool = False,
    currency_code: str = "USD",
    email: str = CUSTOMER,
) -> RenewalOrder:
    """Create an order through the API and pay it on the sandbox checkout page.

    `refuse_top_up`: the provider refuses the top-up (PROVIDER_FAILED, then the refund rules).
    `stop_after_failure`: the worker dies right after PROVIDER_FAILED, leaving the order there.
    """
    if refuse_top_up:
        world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH, times=1)
    body = {"iccid": DEMO_ICCID, "currency": currency_code, "customer_email": email}
    created = APIClient().post("/api/esim/renewal/create/", body, format="json")
    assert created.status_code == 201, created.json()
    session_id = created.json()["payment"]["session_id"]
    with pytest.MonkeyPatch.context() as patch:
        if stop_after_failure:
            patch.setattr(fulfilment, "after_provider_failure", lambda order_pk, *, by: None)
        paid = sandbox_cashier().post(f"/api/esim/sandbox/checkout/{session_id}/", {"action": "pay"})
    assert paid.status_code == 302
    return RenewalOrder.objects.get(checkout_session_id=session_id)


def set_status(order: RenewalOrder, status: str, **fields: Any) -> RenewalOrder:
    """Put an order in a state that only a crash or time can produce (a test shortcut)."""
    RenewalOrder.objects.filter(pk=order.pk).update(status=status, **fields)
    order.refresh_from_db()
    return order


def trail(order: RenewalOrder) -> list[tuple[str, str, str, str, str | None, str]]:
    """(source, action, from, to, actor username, note) of every audit entry, oldest first."""
    return [
        (
            entry.source,
            entry.action,
            entry.from_status,
            entry.to_status,
            getattr(entry.actor, "username", None),
            entry.note,
        )
        for entry in OrderAuditEntry.objects.filter(order=order).select_related("actor")
    ]


def action_url(order: RenewalOrder, action: str) -> str:
    return f"{ADMIN_ORDERS}{order.pk}/actions/{action}/"


def change_url(order: RenewalOrder) -> str:
    return f"{ADMIN_ORDERS}{order.pk}/change/"


def messages_of(response) -> list[tuple[str, str]]:
    """(level tag, text) of the admin messages a followed response shows."""
    return [(message.level_tag, str(message)) for message in response.context["messages"]]
