"""POST /api/esim/renewal/create/: the published frontend's body, server-side price, errors, reuse,
and the Stripe Checkout Session request (against the in-repo fake Stripe server)."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

from pulse.models import OrderStatus, RenewalOrder, SandboxCheckout
from pulse.payments.sandbox_gateway import SandboxGateway
from pulse.services import order_reuse
from pulse.services.order_state import transition
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    CANCEL_URL,
    FRONTEND_BODY,
    FRONTEND_URL,
    SEED_BUNDLE,
    SEED_BUNDLE_NAME,
    SEED_ICCID,
    SERVER_PRICE,
    SERVER_PRICE_MINOR,
    SUCCESS_URL,
    UNKNOWN_ICCID,
    api_fixture,
    charges,
    create,
    create_as,
    fake_stripe_server_fixture,
    order_of,
    renewal_env_fixture,
    stripe_gateway_fixture,
    top_ups,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("renewal_env")]

S = OrderStatus


def test_the_frontend_body_is_charged_at_the_server_price(api):
    response = create(api)

    assert response.status_code == 201
    body = response.json()
    order = order_of(body["order"]["order_id"])
    session = SandboxCheckout.objects.get()
    assert body == {
        "order": {
            "order_id": order.order_id,
            "status": "PENDING",
            "iccid": SEED_ICCID,
            "provider": "TRAVELROAM",
            "bundle": SEED_BUNDLE,
            "plan_name": SEED_BUNDLE_NAME,
            "amount": "1.60",
            "currency": "USD",
            "created_at": order.created_at.isoformat().replace("+00:00", "Z"),
            "paid_at": None,
            "completed_at": None,
            "refunded_at": None,
        },
        "payment": {
            "checkout_url": f"{settings.PUBLIC_BASE_URL}/api/esim/sandbox/checkout/{session.session_id}/",
            "session_id": session.session_id,
            "amount": "1.60",
            "currency": "USD",
            "expires_at": order.checkout_expires_at.isoformat().replace("+00:00", "Z"),
        },
        "reused": False,
    }
    assert order.order_id.startswith("REN-")
    assert len(order.order_id) >= 4 + 16
    # The row: server-derived plan and price, the client's body kept as sent, a checkout attached.
    assert (order.status, order.provider, order.esim_reference) == (S.PENDING, "travelroam", SEED_ICCID)
    assert (order.bundle_code, order.bundle_name, order.duration_days) == (SEED_BUNDLE, SEED_BUNDLE_NAME, 7)
    assert (order.amount, order.currency) == (SERVER_PRICE, "USD")
    assert (order.provider_cost, order.provider_cost_currency) == (Decimal("1.23"), "USD")
    assert order.client_request == {**FRONTEND_BODY, "amount": "10"}  # as validated
    assert (order.gateway, order.checkout_session_id) == ("sandbox", session.session_id)
    assert (session.amount_minor, session.currency, session.client_reference_id) == (
        SERVER_PRICE_MINOR,
        "USD",
        order.order_id,
    )
    assert (session.success_url, session.cancel_url) == (SUCCESS_URL, CANCEL_URL)
    assert charges(order) == [("CHARGE", "PENDING", SERVER_PRICE, session.session_id)]
    assert top_ups() == []


def test_only_the_known_fields_of_the_body_are_kept_with_the_order(api):
    response = create(api, pad="x" * 2_000_000, nested={"deep": ["list"]}, bundle=SEED_BUNDLE)

    assert response.status_code == 201
    order = order_of(response.json()["order"]["order_id"])
    assert order.client_request == {**FRONTEND_BODY, "amount": "10", "bundle": SEED_BUNDLE}
    assert len(json.dumps(order.client_request)) < 1000


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plan_name", "x" * 256),
        ("package_name", "x" * 256),
        ("order_sim_id", "x" * 256),
        ("country_code", "x" * 9),
        ("renewal_days", 10**12),
        ("amount", "1" * 40),
        ("provider", ["AIRHUB"]),
    ],
)
def test_a_known_field_out_of_bounds_is_refused_and_nothing_is_stored(api, field, value):
    response = create(api, **{field: value})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_input"
    assert list(response.json()["fields"]) == [field]
    assert not RenewalOrder.objects.exists()


def test_the_order_row_exists_before_the_checkout_session_is_opened(api, monkeypatch):
    seen = []
    original = SandboxGateway.create_checkout

    def create_checkout(self, request):
        # What a webhook arriving at this very moment would find.
        seen.append(list(RenewalOrder.objects.filter(order_id=request.order_id).values_list("status")))
        return original(self, request)

    monkeypatch.setattr(SandboxGateway, "create_checkout", create_checkout)

    response = create(api)

    assert response.status_code == 201
    assert seen == [[(S.PENDING,)]]


def test_a_matching_expected_price_is_accepted(api):
    response = create(api, expected_price="1.60")

    assert response.status_code == 201
    assert response.json()["payment"]["amount"] == "1.60"


def test_an_expected_price_that_differs_is_a_409_and_creates_nothing(api):
    response = create(api, expected_price="1.50")

    assert response.status_code == 409
    assert response.json() == {
        "error": "The price is now $1.60.",
        "code": "price_changed",
        "details": "You expected 1.50 USD; the server price is 1.60.",
    }
    assert not RenewalOrder.objects.exists()
    assert not SandboxCheckout.objects.exists()


def test_an_explicit_bundle_from_the_options_is_charged_at_its_own_price(api):
    options = api.get("/api/esim/renewal/options/", {"iccid": SEED_ICCID, "currency": "USD"}).json()
    other = next(option for option in options["options"] if option["bundle"] != SEED_BUNDLE)

    response = create(api, bundle=other["bundle"])

    assert response.status_code == 201
    body = response.json()
    assert (body["order"]["bundle"], body["order"]["amount"]) == (other["bundle"], other["price"])
    assert body["payment"]["amount"] == other["price"]


def test_a_bundle_that_is_not_an_option_is_a_409(api):
    response = create(api, bundle="esim_50GB_30D_US_V2")

    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "That bundle cannot renew this eSIM."
    assert body["code"] == "invalid_bundle"
    assert body["details"].startswith(
        f"Bundle esim_50GB_30D_US_V2 is not a renewal option here; options: {SEED_BUNDLE}, "
    )
    assert set(body) == {"error", "code", "details"}
    assert not RenewalOrder.objects.exists()


def test_an_esim_no_provider_knows_is_a_404(api):
    response = create(api, iccid=UNKNOWN_ICCID, order_sim_id=UNKNOWN_ICCID)

    assert response.status_code == 404
    assert response.json() == {
        "error": "eSIM not found.",
        "code": "esim_not_found",
        "details": (
            f"No provider knows ICCID {UNKNOWN_ICCID}. Check the number on the eSIM's packaging or e-mail."
        ),
    }
    assert not RenewalOrder.objects.exists()


def test_an_unsupported_currency_is_a_400(api):
    response = create(api, currency="GBP")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Unsupported currency GBP; supported currencies: USD, EUR.",
        "code": "unsupported_currency",
        "details": "Use one of: USD, EUR.",
    }
    assert not RenewalOrder.objects.exists()


# --- who gets an open checkout back ------------------------------------------------------------------

KEY_A = {"HTTP_IDEMPOTENCY_KEY": "fake-browser-session-a"}
KEY_B = {"HTTP_IDEMPOTENCY_KEY": "fake-browser-session-b"}


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ({"headers": KEY_A}, {"headers": KEY_A}),
        ({"customer_email": "buyer@example.com"}, {"customer_email": " Buyer@Example.com "}),
        ({"email": "buyer@example.com"}, {"customer_email": "buyer@example.com"}),
        (
            {"headers": KEY_A, "customer_email": "buyer@example.com"},
            {"headers": KEY_A, "customer_email": "buyer@example.com"},
        ),
    ],
    ids=["same-key", "same-email", "email-alias", "same-key-and-email"],
)
def test_a_repeated_create_by_the_same_requester_returns_the_same_checkout(api, first, again):
    original = create_as(api, **first).json()

    repeated = create_as(api, **again)

    assert repeated.status_code == 201
    assert repeated.json() == {**original, "reused": True}
    assert RenewalOrder.objects.count() == 1
    assert SandboxCheckout.objects.count() == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"headers": KEY_A}, {"headers": KEY_B}),
        ({"headers": KEY_A}, {}),
        ({"customer_email": "first@example.com"}, {"customer_email": "second@example.com"}),
        ({"customer_email": "first@example.com"}, {}),
        ({"customer_email": "first@example.com"}, {"headers": KEY_A}),
        # The same key with another e-mail: the open order would send the receipt elsewhere.
        ({"headers": KEY_A, "customer_email": "first@example.com"}, {"headers": KEY_A}),
    ],
    ids=["other-key", "no-key", "other-email", "no-email", "key-not-email", "same-key-other-email"],
)
def test_another_requester_never_gets_the_first_ones_order(api, first, second):
    mine = create_as(api, **first).json()

    theirs = create_as(api, **second)

    assert theirs.status_code == 201
    other = theirs.json()
    assert other["reused"] is False
    assert other["order"]["order_id"] != mine["order"]["order_id"]
    assert other["payment"]["session_id"] != mine["payment"]["session_id"]
    assert other["payment"]["checkout_url"] != mine["payment"]["checkout_url"]
    first_email = first.get("customer_email", "")
    assert order_of(mine["order"]["order_id"]).customer_email == first_email  # the receipt stays mine
    assert order_of(other["order"]["order_id"]).customer_email == second.get("customer_email", "")


def test_without_a_key_or_an_email_every_create_is_a_new_order(api):
    """The published frontend sends neither: each click opens its own checkout, never a stranger's."""
    answers = [create(api).json() for _ in range(3)]

    assert [a["reused"] for a in answers] == [False, False, False]
    assert len({a["order"]["order_id"] for a in answers}) == 3
    assert list(RenewalOrder.objects.values_list("reuse_key", flat=True)) == [None, None, None]


def test_only_a_keyed_hash_of_the_requester_is_stored(api, settings):
    body = create_as(api, headers=KEY_A, customer_email="buyer@example.com").json()
    order = order_of(body["order"]["order_id"])
    stored = order.reuse_key

    assert len(stored) == 64
    assert int(stored, 16) >= 0
    assert "fake-browser-session-a" not in json.dumps(list(RenewalOrder.objects.values()), default=str)
    # Keyed with SECRET_KEY: without it nobody can test a guessed key or e-mail against the column.
    transition(order, S.PENDING, S.EXPIRED, by="test")
    settings.SECRET_KEY = "another-test-secret-key-that-is-long-enough-0123456789"
    again = create_as(api, headers=KEY_A, customer_email="buyer@example.com").json()
    assert order_of(again["order"]["order_id"]).reuse_key not in (None, stored)


def test_a_closed_checkout_is_not_reused(api):
    first = create_as(api, headers=KEY_A).json()
    transition(order_of(first["order"]["order_id"]), S.PENDING, S.EXPIRED, by="test")

    again = create_as(api, headers=KEY_A).json()

    assert again["reused"] is False
    assert again["order"]["order_id"] != first["order"]["order_id"]
    assert again["payment"]["session_id"] != first["payment"]["session_id"]


def test_a_checkout_about_to_expire_is_not_handed_back_and_the_new_create_succeeds(api):
    first = create_as(api, headers=KEY_A).json()
    old = order_of(first["order"]["order_id"])
    RenewalOrder.objects.filter(pk=old.pk).update(checkout_expires_at=timezone.now() + timedelta(minutes=2))

    again = create_as(api, headers=KEY_A)

    assert again.status_code == 201, again.json()
    assert again.json()["reused"] is False
    old.refresh_from_db()
    new = order_of(again.json()["order"]["order_id"])
    assert (old.status, old.reuse_key) == (S.PENDING, None)  # still payable; no longer handed out
    assert new.reuse_key is not None
    assert create_as(api, headers=KEY_A).json()["order"]["order_id"] == new.order_id


def test_a_checkout_at_an_old_price_is_not_handed_back(api):
    first = create_as(api, headers=KEY_A).json()
    RenewalOrder.objects.filter(order_id=first["order"]["order_id"]).update(amount=Decimal("9.99"))

    again = create_as(api, headers=KEY_A).json()

    assert again["reused"] is False
    assert again["payment"]["amount"] == "1.60"


def test_a_twin_still_opening_its_checkout_is_waited_for_then_409(api, monkeypatch):
    monkeypatch.setattr(order_reuse, "TWIN_WAIT_SECONDS", 0.3)
    first = create_as(api, headers=KEY_A).json()
    # As another worker leaves it between inserting the row and hearing back from the gateway.
    RenewalOrder.objects.filter(order_id=first["order"]["order_id"]).update(checkout_session_id=None)

    response = create_as(api, headers=KEY_A)

    assert response.status_code == 409
    assert response["Retry-After"] == "2"
    assert response.json() == {
        "error": "This renewal is being created by another request; try again in a moment.",
        "code": "create_in_progress",
        "details": "Another request is opening the checkout for the same renewal.",
    }
    assert RenewalOrder.objects.count() == 1


def test_an_order_whose_opener_died_does_not_block_the_requester(api):
    first = create_as(api, headers=KEY_A).json()
    RenewalOrder.objects.filter(order_id=first["order"]["order_id"]).update(
        checkout_session_id=None, created_at=timezone.now() - timedelta(minutes=10)
    )

    again = create_as(api, headers=KEY_A)

    assert again.status_code == 201
    assert again.json()["reused"] is False


def test_an_overlong_idempotency_key_is_a_400(api):
    response = create_as(api, headers={"HTTP_IDEMPOTENCY_KEY": "k" * 256})

    assert response.status_code == 400
    assert response.json() == {
        "error": "Invalid input.",
        "code": "invalid_input",
        "details": "Idempotency-Key: At most 255 characters.",
        "fields": {"Idempotency-Key": ["At most 255 characters."]},
    }
    assert not RenewalOrder.objects.exists()


# --- every URL handed out comes from settings ---------------------------------------------------------


def test_urls_come_from_settings_never_from_the_host_header(api, settings):
    # The hostile host is allowed on purpose: host validation is not what protects the URLs here.
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "evil.example"]
    spoofed = {"HTTP_HOST": "evil.example", "HTTP_X_FORWARDED_HOST": "evil.example"}

    created = create_as(api, headers=spoofed).json()
    session_id = created["payment"]["session_id"]
    # With DEBUG off only staff may press Pay on the sandbox page.
    api.force_login(get_user_model().objects.create_user("staff", is_staff=True))
    paid = api.post(f"/api/esim/sandbox/checkout/{session_id}/", {"action": "pay"}, **spoofed)

    assert created["payment"]["checkout_url"] == (
        f"https://api.example.test/api/esim/sandbox/checkout/{session_id}/"
    )
    session = SandboxCheckout.objects.get(session_id=session_id)
    assert (session.success_url, session.cancel_url) == (SUCCESS_URL, CANCEL_URL)
    assert paid.status_code == 302
    assert paid["Location"] == f"{FRONTEND_URL}/renewal/success?session_id={session_id}"
    assert "evil.example" not in json.dumps(created)


def test_without_public_base_url_the_sandbox_opens_no_checkout(api, settings):
    settings.PUBLIC_BASE_URL = ""

    response = create(api)

    assert response.status_code == 502
    assert response.json()["code"] == "payment_gateway_rejected"
    assert RenewalOrder.objects.get().status == S.CANCELLED


def test_a_failed_checkout_does_not_block_the_requesters_next_create(api, stripe_gateway):
    stripe_gateway.fail_next("/v1/checkout/sessions", status=500)
    assert create_as(api, headers=KEY_A).status_code == 503

    retry = create_as(api, headers=KEY_A)

    assert retry.status_code == 201
    assert retry.json()["reused"] is False
    assert sorted(RenewalOrder.objects.values_list("status", flat=True)) == [S.CANCELLED, S.PENDING]


# --- Stripe Checkout --------------------------------------------------------------------------------


def session_requests(server) -> list[dict]:
    return [
        r for r in server.state.requests if r["method"] == "POST" and r["path"] == "/v1/checkout/sessions"
    ]


def test_the_stripe_session_request_carries_the_order(api, stripe_gateway):
    response = create(api, customer_email="buyer@example.com")

    assert response.status_code == 201
    body = response.json()
    order = order_of(body["order"]["order_id"])
    [request] = session_requests(stripe_gateway)
    metadata = {"order_id": order.order_id, "iccid_last4": "5583", "bundle": SEED_BUNDLE}
    assert request["idempotency_key"] == f"checkout:{order.order_id}:1"
    assert request["params"] == {
        "mode": "payment",
        "payment_method_types": ["card"],
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": str(SERVER_PRICE_MINOR),
                    "product_data": {"name": "eSIM bundle renewal", "description": SEED_BUNDLE_NAME},
                },
                "quantity": "1",
            }
        ],
        "client_reference_id": order.order_id,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "expires_at": str(int(order.checkout_expires_at.timestamp())),
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "customer_email": "buyer@example.com",
    }
    session = stripe_gateway.state.sessions[order.checkout_session_id]
    assert body["payment"] == {
        "checkout_url": session["url"],
        "session_id": session["id"],
        "amount": "1.60",
        "currency": "USD",
        "expires_at": order.checkout_expires_at.isoformat().replace("+00:00", "Z"),
    }
    assert (session["amount_total"], session["currency"]) == (SERVER_PRICE_MINOR, "usd")
    assert (order.status, order.gateway, order.customer_email) == (S.PENDING, "stripe", "buyer@example.com")
    assert charges(order) == [("CHARGE", "PENDING", SERVER_PRICE, session["id"])]


def test_without_an_email_the_stripe_session_asks_stripe_for_none(api, stripe_gateway):
    create(api)

    [request] = session_requests(stripe_gateway)
    assert "customer_email" not in request["params"]


def test_an_unavailable_gateway_is_a_503_and_leaves_no_pending_order(api, stripe_gateway):
    stripe_gateway.fail_next("/v1/checkout/sessions", status=500)

    response = create(api)

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert response.json() == {
        "error": "The payment service is unavailable right now.",
        "code": "payment_gateway_unavailable",
        "details": "The payment service did not answer; nothing was charged.",
    }
    order = RenewalOrder.objects.get()
    assert (order.status, order.checkout_session_id) == (S.CANCELLED, None)
    assert stripe_gateway.state.sessions == {}
    # The customer simply tries again: a fresh order and checkout, never the cancelled one.
    retry = create(api)
    assert retry.status_code == 201
    assert retry.json()["order"]["order_id"] != order.order_id
    assert list(RenewalOrder.objects.order_by("pk").values_list("status", flat=True)) == [
        S.CANCELLED,
        S.PENDING,
    ]
