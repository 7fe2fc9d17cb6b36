"""The payment gateway layer (pulse/payments): Stripe against the in-repo fake Stripe server, the sandbox
gateway against the database, the webhook signature scheme, and the gateway factory."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from esim_status_checker.tests.fresh_process import PRODUCTION_ENV, run_manage
from pulse.models import SandboxCheckout, SandboxRefund
from pulse.payments import (
    STRIPE_API_VERSION,
    CheckoutNotFound,
    CheckoutRequest,
    GatewayError,
    GatewayRejected,
    GatewayUnavailable,
    InvalidSignature,
    PaymentGateway,
    get_gateway,
    signing,
)
from pulse.payments.sandbox_gateway import SandboxGateway, sandbox_webhook_secret
from pulse.payments.stripe_gateway import StripeGateway
from tests.fakes.stripe import start_fake_stripe

WEBHOOK_SECRET = "whsec_test_fake"
ORDER_ID = "REN-TESTORDER0000000001"
SUCCESS_URL = "http://localhost:3000/renewal/success?session_id={CHECKOUT_SESSION_ID}"
CANCEL_URL = "http://localhost:3000/renewal/cancelled"


def checkout_request(**overrides) -> CheckoutRequest:
    fields = {
        "order_id": ORDER_ID,
        "amount": Decimal("12.99"),
        "currency": "USD",
        "product_name": "eSIM bundle renewal",
        "description": "Europe 5 GB, 30 days",
        "customer_email": "buyer@example.com",
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "expires_at": (timezone.now() + timedelta(minutes=60)).replace(microsecond=0),
        "idempotency_key": f"checkout:{ORDER_ID}:1",
        "metadata": {"order_id": ORDER_ID, "bundle": "EU-5GB-30D"},
    }
    fields.update(overrides)
    return CheckoutRequest(**fields)


# --- fixtures ---------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    """A tiny webhook endpoint: keeps the raw body and the Stripe-Signature header of every POST."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.received.append((body, self.headers.get("Stripe-Signature")))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass


@pytest.fixture(scope="module")
def fake_stripe_server():
    server = start_fake_stripe()
    yield server
    server.stop()


@pytest.fixture
def fake_stripe(fake_stripe_server):
    fake_stripe_server.configure_webhook(None, None)
    fake_stripe_server.reset()
    return fake_stripe_server


@pytest.fixture
def receiver():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    httpd.received = []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def stripe_settings(settings, fake_stripe):
    settings.STRIPE_SECRET_KEY = "sk_test_fake"
    settings.STRIPE_API_BASE = fake_stripe.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.STRIPE_TIMEOUT = 5.0
    return settings


@pytest.fixture
def gateway(stripe_settings) -> StripeGateway:
    return StripeGateway()


def api_requests(server, method: str, path_prefix: str) -> list[dict]:
    return [r for r in server.state.requests if r["method"] == method and r["path"].startswith(path_prefix)]


def paid_session(gateway: StripeGateway, server, **overrides) -> tuple[str, str]:
    info = gateway.create_checkout(checkout_request(**overrides))
    server.pay(info.session_id)
    return info.session_id, server.state.sessions[info.session_id]["payment_intent"]


# --- Stripe: checkout ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "unit_amount", "stripe_currency"),
    [(Decimal("12.99"), "USD", "1299", "usd"), (Decimal("1500"), "JPY", "1500", "jpy")],
)
def test_create_checkout_sends_order_reference_minor_units_and_our_idempotency_key(
    gateway, fake_stripe, amount, currency, unit_amount, stripe_currency
):
    request = checkout_request(amount=amount, currency=currency)

    info = gateway.create_checkout(request)

    [sent] = api_requests(fake_stripe, "POST", "/v1/checkout/sessions")
    assert sent["idempotency_key"] == f"checkout:{ORDER_ID}:1"
    assert sent["stripe_version"] == STRIPE_API_VERSION
    metadata = {"order_id": ORDER_ID, "bundle": "EU-5GB-30D"}
    assert sent["params"] == {
        "mode": "payment",
        "payment_method_types": ["card"],
        "line_items": [
            {
                "price_data": {
                    "currency": stripe_currency,
                    "unit_amount": unit_amount,
                    "product_data": {"name": "eSIM bundle renewal", "description": "Europe 5 GB, 30 days"},
                },
                "quantity": "1",
            }
        ],
        "client_reference_id": ORDER_ID,
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        "expires_at": str(int(request.expires_at.timestamp())),
        "success_url": SUCCESS_URL,
        "cancel_url": CANCEL_URL,
        "customer_email": "buyer@example.com",
    }
    assert info.session_id.startswith("cs_test_")
    assert info.url == f"{fake_stripe.base_url}/pay/{info.session_id}"
    assert info.expires_at == request.expires_at
    assert info.raw["amount_total"] == int(unit_amount)


def test_order_id_in_metadata_always_names_the_order(gateway, fake_stripe):
    gateway.create_checkout(checkout_request(metadata={"order_id": "REN-SOMETHING-ELSE", "bundle": "X"}))

    [sent] = api_requests(fake_stripe, "POST", "/v1/checkout/sessions")
    assert sent["params"]["metadata"] == {"order_id": ORDER_ID, "bundle": "X"}
    assert sent["params"]["payment_intent_data"]["metadata"] == {"order_id": ORDER_ID, "bundle": "X"}


def test_optional_email_and_description_are_left_out_when_empty(gateway, fake_stripe):
    gateway.create_checkout(checkout_request(customer_email="", description=""))

    [sent] = api_requests(fake_stripe, "POST", "/v1/checkout/sessions")
    assert "customer_email" not in sent["params"]
    assert sent["params"]["line_items"][0]["price_data"]["product_data"] == {"name": "eSIM bundle renewal"}


def test_create_checkout_with_the_same_key_replays_the_first_session(gateway, fake_stripe):
    request = checkout_request()

    first = gateway.create_checkout(request)
    second = gateway.create_checkout(request)

    assert second.session_id == first.session_id
    assert len(fake_stripe.state.sessions) == 1
    assert [r["replayed"] for r in api_requests(fake_stripe, "POST", "/v1/checkout/sessions")] == [
        False,
        True,
    ]


def test_reusing_a_key_with_other_parameters_is_rejected(gateway, fake_stripe):
    gateway.create_checkout(checkout_request())

    with pytest.raises(GatewayRejected) as caught:
        gateway.create_checkout(checkout_request(amount=Decimal("13.99")))

    assert caught.value.retryable is False
    assert caught.value.status_code == 400
    assert len(fake_stripe.state.sessions) == 1


def test_expiry_is_kept_inside_stripes_window(gateway, fake_stripe):
    before = time.time()
    gateway.create_checkout(checkout_request(expires_at=timezone.now() + timedelta(minutes=10)))
    gateway.create_checkout(
        checkout_request(expires_at=timezone.now() + timedelta(days=3), idempotency_key="checkout:other:1")
    )

    short, long = (int(r["params"]["expires_at"]) for r in api_requests(fake_stripe, "POST", "/v1/checkout"))
    assert short >= before + 30 * 60
    assert long <= time.time() + 24 * 3600


@pytest.mark.parametrize(
    ("amount", "currency"), [(Decimal("12.99"), "XYZ"), (Decimal("0"), "USD"), (Decimal("0.001"), "USD")]
)
def test_unsendable_amounts_are_rejected_without_calling_stripe(gateway, fake_stripe, amount, currency):
    with pytest.raises(GatewayRejected):
        gateway.create_checkout(checkout_request(amount=amount, currency=currency))

    assert fake_stripe.state.requests == []


def test_retrieve_checkout_open_then_paid(gateway, fake_stripe):
    info = gateway.create_checkout(checkout_request())

    state = gateway.retrieve_checkout(info.session_id)
    assert (state.session_id, state.status, state.payment_status) == (info.session_id, "open", "unpaid")
    assert (state.amount_minor, state.currency, state.client_reference_id) == (1299, "USD", ORDER_ID)
    assert state.payment_intent_id is None  # only exists once the customer pays (API >= 2022-08-01)
    assert state.metadata == {"order_id": ORDER_ID, "bundle": "EU-5GB-30D"}

    fake_stripe.pay(info.session_id)
    state = gateway.retrieve_checkout(info.session_id)

    assert (state.status, state.payment_status) == ("complete", "paid")
    assert state.payment_intent_id == fake_stripe.state.sessions[info.session_id]["payment_intent"]
    assert state.payment_intent_id.startswith("pi_")
    assert state.raw["id"] == info.session_id


@pytest.mark.parametrize(
    ("customer", "session_state", "intent_status", "failed"),
    [
        (None, ("open", "unpaid"), None, False),
        ("pay", ("complete", "paid"), "succeeded", False),
        ("async_pending", ("complete", "unpaid"), "processing", False),
        ("fail", ("complete", "unpaid"), "requires_payment_method", True),
    ],
)
def test_retrieve_checkout_brings_the_payment_intent_status(
    gateway, fake_stripe, customer, session_state, intent_status, failed
):
    session_id = gateway.create_checkout(checkout_request()).session_id
    if customer:
        getattr(fake_stripe, customer)(session_id)

    state = gateway.retrieve_checkout(session_id)

    assert (state.status, state.payment_status, state.payment_intent_status) == (
        *session_state,
        intent_status,
    )
    assert state.payment_failed is failed
    # One call, the intent expanded into it; what we keep of it is only its id (no client secret).
    retrieves = api_requests(fake_stripe, "GET", f"/v1/checkout/sessions/{session_id}")
    assert len(retrieves) == 1
    assert state.raw["payment_intent"] == state.payment_intent_id


def test_expire_closes_an_open_session_and_is_a_no_op_once_closed(gateway, fake_stripe):
    open_id = gateway.create_checkout(checkout_request()).session_id
    paid_id, _ = paid_session(gateway, fake_stripe, idempotency_key="checkout:paid:1")

    gateway.expire_checkout(open_id)
    gateway.expire_checkout(open_id)  # already expired: nothing to do
    gateway.expire_checkout(paid_id)  # already paid: must not raise, must not change it

    assert gateway.retrieve_checkout(open_id).status == "expired"
    assert gateway.retrieve_checkout(paid_id).status == "complete"


def test_unknown_session_is_checkout_not_found(gateway, fake_stripe):
    with pytest.raises(CheckoutNotFound) as caught:
        gateway.retrieve_checkout("cs_test_doesnotexist")
    assert caught.value.status_code == 404
    assert caught.value.code == "resource_missing"

    with pytest.raises(CheckoutNotFound):
        gateway.expire_checkout("cs_test_doesnotexist")


# --- Stripe: refunds -------------------------------------------------------------------------------


def test_refund_with_a_stable_key_is_idempotent(gateway, fake_stripe):
    _, intent = paid_session(gateway, fake_stripe)
    key = f"refund:{ORDER_ID}"

    first = gateway.refund(
        payment_intent_id=intent,
        amount_minor=1299,
        currency="USD",
        idempotency_key=key,
        metadata={"order_id": ORDER_ID},
    )
    second = gateway.refund(
        payment_intent_id=intent,
        amount_minor=1299,
        currency="USD",
        idempotency_key=key,
        metadata={"order_id": ORDER_ID},
    )

    assert second.refund_id == first.refund_id
    assert (first.status, first.amount_minor, first.currency) == ("succeeded", 1299, "USD")
    assert (first.payment_intent_id, first.metadata) == (intent, {"order_id": ORDER_ID})
    assert len(fake_stripe.state.refunds) == 1
    sent = api_requests(fake_stripe, "POST", "/v1/refunds")
    assert [(r["idempotency_key"], r["replayed"]) for r in sent] == [(key, False), (key, True)]
    assert sent[0]["params"] == {
        "payment_intent": intent,
        "amount": "1299",
        "metadata": {"order_id": ORDER_ID},
    }
    assert gateway.retrieve_refund(first.refund_id).status == "succeeded"


def refund(gateway, intent, amount=1299, key=f"refund:{ORDER_ID}"):
    return gateway.refund(
        payment_intent_id=intent,
        amount_minor=amount,
        currency="USD",
        idempotency_key=key,
        metadata={"order_id": ORDER_ID},
    )


def test_a_failed_refund_is_a_result_not_an_exception(gateway, fake_stripe):
    _, intent = paid_session(gateway, fake_stripe)
    fake_stripe.set_refund_mode("failed")

    assert refund(gateway, intent).status == "failed"


def test_a_pending_refund_settles_later(gateway, fake_stripe):
    _, intent = paid_session(gateway, fake_stripe)
    fake_stripe.set_refund_mode("pending")

    info = refund(gateway, intent)
    assert info.status == "pending"

    fake_stripe.settle_refund(info.refund_id, "succeeded")
    assert gateway.retrieve_refund(info.refund_id).status == "succeeded"


def test_refund_refusals_are_rejected(gateway, fake_stripe):
    _, intent = paid_session(gateway, fake_stripe)

    with pytest.raises(GatewayRejected) as unknown:
        refund(gateway, "pi_doesnotexist")
    assert (unknown.value.status_code, unknown.value.code) == (400, "resource_missing")
    with pytest.raises(GatewayRejected):
        refund(gateway, intent, amount=5000)  # more than was paid
    with pytest.raises(GatewayRejected):
        refund(gateway, intent, amount=0)

    refund(gateway, intent)
    with pytest.raises(GatewayRejected) as again:
        refund(gateway, intent, key="refund:another-key")
    assert again.value.code == "charge_already_refunded"


def test_unknown_refund_is_rejected(gateway, fake_stripe):
    with pytest.raises(GatewayRejected) as caught:
        gateway.retrieve_refund("re_doesnotexist")
    assert caught.value.status_code == 404


# --- Stripe: outages ---------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503, 429])
def test_server_errors_and_throttling_are_unavailable_and_retryable(gateway, fake_stripe, status):
    fake_stripe.fail_next("/v1/checkout/sessions", status=status)

    with pytest.raises(GatewayUnavailable) as caught:
        gateway.create_checkout(checkout_request())

    assert caught.value.retryable is True
    assert caught.value.status_code == status
    # The injected failure happened "in front of" Stripe, so the same key now creates the session.
    assert gateway.create_checkout(checkout_request()).session_id in fake_stripe.state.sessions


def test_a_dropped_connection_is_unavailable(gateway, fake_stripe):
    fake_stripe.fail_next("/v1/checkout/sessions", status=0)

    with pytest.raises(GatewayUnavailable) as caught:
        gateway.retrieve_checkout("cs_test_anything")

    assert caught.value.retryable is True


def test_a_server_that_never_answers_times_out_as_unavailable(stripe_settings):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)  # accepts connections (backlog) but never answers
    stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{silent.getsockname()[1]}"
    stripe_settings.STRIPE_TIMEOUT = 0.2
    try:
        with pytest.raises(GatewayUnavailable):
            StripeGateway().retrieve_checkout("cs_test_anything")
    finally:
        silent.close()


def test_sdk_network_retries_reuse_our_idempotency_key(stripe_settings, fake_stripe, monkeypatch):
    monkeypatch.setattr(stripe._http_client.HTTPClient, "_sleep_time_seconds", lambda self, num_retries: 0)
    stripe_settings.STRIPE_MAX_NETWORK_RETRIES = 1
    fake_stripe.fail_next("/v1/checkout/sessions", status=500)

    info = StripeGateway().create_checkout(checkout_request())

    sent = api_requests(fake_stripe, "POST", "/v1/checkout/sessions")
    assert [(r["idempotency_key"], r["injected"]) for r in sent] == [
        (f"checkout:{ORDER_ID}:1", True),
        (f"checkout:{ORDER_ID}:1", False),
    ]
    assert list(fake_stripe.state.sessions) == [info.session_id]


def test_a_refused_api_key_is_rejected_not_retryable(stripe_settings, fake_stripe):
    stripe_settings.STRIPE_SECRET_KEY = "sk_fake_not_a_test_key"

    with pytest.raises(GatewayRejected) as caught:
        StripeGateway().retrieve_checkout("cs_test_anything")

    assert (caught.value.status_code, caught.value.retryable) == (401, False)
    assert "sk_fake_not_a_test_key" not in caught.value.message


@pytest.mark.parametrize(
    ("key", "live", "message"),
    [
        ("", False, "needs STRIPE_SECRET_KEY"),
        ("sk_live_fake", False, "live key but STRIPE_LIVE_MODE is false"),
        ("sk_test_fake", True, "STRIPE_LIVE_MODE is true but STRIPE_SECRET_KEY is a test key"),
    ],
)
def test_stripe_gateway_refuses_missing_or_mismatched_keys(settings, key, live, message):
    settings.STRIPE_SECRET_KEY = key
    settings.STRIPE_LIVE_MODE = live

    with pytest.raises(ImproperlyConfigured, match=message):
        StripeGateway()


# --- Stripe: webhooks --------------------------------------------------------------------------------


def test_events_signed_and_delivered_by_stripe_verify_and_name_our_order(gateway, fake_stripe, receiver):
    fake_stripe.configure_webhook(f"http://127.0.0.1:{receiver.server_address[1]}/hook", WEBHOOK_SECRET)
    session_id, intent = paid_session(gateway, fake_stripe)

    [(body, header)] = receiver.received
    event = gateway.parse_webhook(body, header)

    assert (event.type, event.object_type, event.livemode) == (
        "checkout.session.completed",
        "checkout.session",
        False,
    )
    assert event.event_id == fake_stripe.state.events[-1]["id"]
    assert event.api_version == STRIPE_API_VERSION
    assert (event.session_id, event.payment_intent_id, event.refund_id) == (session_id, intent, None)
    assert event.order_id == ORDER_ID
    assert event.payload == json.loads(body)


def test_refund_events_carry_the_refund_intent_and_order(gateway, fake_stripe, receiver):
    _, intent = paid_session(gateway, fake_stripe)
    fake_stripe.configure_webhook(f"http://127.0.0.1:{receiver.server_address[1]}/hook", WEBHOOK_SECRET)

    info = refund(gateway, intent)
    assert fake_stripe.wait_for_webhooks()

    [(body, header)] = receiver.received
    event = gateway.parse_webhook(body, header)
    assert (event.type, event.object_type) == ("refund.created", "refund")
    assert (event.refund_id, event.payment_intent_id, event.session_id) == (info.refund_id, intent, None)
    assert event.order_id == ORDER_ID


def signed_event(
    event: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, str]:
    body = json.dumps(event)
    return body.encode(), stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)


def charge_refunded_event() -> dict:
    charge = {"id": "ch_1", "object": "charge", "payment_intent": "pi_1", "metadata": {"order_id": ORDER_ID}}
    return {
        "id": "evt_1",
        "object": "event",
        "type": "charge.refunded",
        "livemode": False,
        "api_version": STRIPE_API_VERSION,
        "data": {"object": charge},
    }


def test_charge_refunded_names_the_payment_intent(gateway):
    event = gateway.parse_webhook(*signed_event(charge_refunded_event()))

    assert (event.object_type, event.payment_intent_id, event.order_id) == ("charge", "pi_1", ORDER_ID)
    assert (event.session_id, event.refund_id) == (None, None)


def test_tampered_body_is_rejected(gateway):
    body, header = signed_event(charge_refunded_event())

    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(body.replace(b"pi_1", b"pi_2"), header)


def test_wrong_secret_is_rejected(gateway):
    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(*signed_event(charge_refunded_event(), secret="whsec_test_other"))


def test_stale_signature_is_rejected(gateway):
    with pytest.raises(InvalidSignature, match="tolerance"):
        gateway.parse_webhook(*signed_event(charge_refunded_event(), timestamp=int(time.time()) - 301))


@pytest.mark.parametrize("header", [None, ""])
def test_missing_signature_header_is_rejected(gateway, header):
    body, _ = signed_event(charge_refunded_event())

    with pytest.raises(InvalidSignature, match="missing"):
        gateway.parse_webhook(body, header)


def test_signed_garbage_is_rejected(gateway):
    header = stripe.WebhookSignature.generate_signature_header("not json", WEBHOOK_SECRET)

    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(b"not json", header)
    body, header = signed_event({"id": "evt_1"})  # JSON, but not an event
    with pytest.raises(InvalidSignature):
        gateway.parse_webhook(body, header)


def test_webhooks_cannot_be_verified_without_a_secret(stripe_settings):
    stripe_settings.STRIPE_WEBHOOK_SECRET = ""

    with pytest.raises(GatewayRejected, match="STRIPE_WEBHOOK_SECRET is not set"):
        StripeGateway().parse_webhook(*signed_event(charge_refunded_event()))


# --- Sandbox gateway ---------------------------------------------------------------------------------


@pytest.fixture
def sandbox(settings) -> SandboxGateway:
    settings.STRIPE_WEBHOOK_SECRET = ""
    return SandboxGateway()


def sandbox_refund(sandbox, intent, amount=1299, key=f"refund:{ORDER_ID}", currency="USD"):
    return sandbox.refund(
        payment_intent_id=intent,
        amount_minor=amount,
        currency=currency,
        idempotency_key=key,
        metadata={"order_id": ORDER_ID},
    )


@pytest.mark.django_db
def test_sandbox_create_and_retrieve(sandbox):
    request = checkout_request()

    info = sandbox.create_checkout(request)

    assert info.session_id.startswith("sbx_cs_")
    assert info.url == f"https://api.example.test/api/esim/sandbox/checkout/{info.session_id}/"
    assert info.expires_at == request.expires_at
    row = SandboxCheckout.objects.get(session_id=info.session_id)
    assert (row.client_reference_id, row.amount_minor, row.currency) == (ORDER_ID, 1299, "USD")
    assert (row.customer_email, row.success_url, row.cancel_url) == (
        "buyer@example.com",
        SUCCESS_URL,
        CANCEL_URL,
    )
    state = sandbox.retrieve_checkout(info.session_id)
    assert (state.status, state.payment_status, state.amount_minor, state.currency) == (
        "open",
        "unpaid",
        1299,
        "USD",
    )
    assert (state.client_reference_id, state.payment_intent_id) == (ORDER_ID, None)
    assert state.metadata == {"order_id": ORDER_ID, "bundle": "EU-5GB-30D"}


@pytest.mark.django_db
def test_sandbox_create_is_idempotent_per_key(sandbox):
    first = sandbox.create_checkout(checkout_request())
    second = sandbox.create_checkout(checkout_request())
    other = sandbox.create_checkout(checkout_request(idempotency_key=f"checkout:{ORDER_ID}:2"))

    assert second.session_id == first.session_id
    assert other.session_id != first.session_id
    assert SandboxCheckout.objects.count() == 2
    with pytest.raises(GatewayRejected, match="different checkout"):
        sandbox.create_checkout(checkout_request(amount=Decimal("99.00")))


@pytest.mark.django_db
def test_sandbox_refuses_what_stripe_would_refuse(sandbox):
    with pytest.raises(GatewayRejected):
        sandbox.create_checkout(checkout_request(currency="XYZ"))
    with pytest.raises(CheckoutNotFound):
        sandbox.retrieve_checkout("sbx_cs_doesnotexist")


@pytest.mark.django_db
def test_sandbox_paid_returns_a_signed_stripe_shaped_event(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id

    state, body, header = sandbox.sandbox_complete(session_id, "paid")

    assert (state.status, state.payment_status, state.payment_intent_status) == (
        "complete",
        "paid",
        "succeeded",
    )
    assert state.payment_intent_id.startswith("sbx_pi_")
    assert sandbox.retrieve_checkout(session_id) == state
    assert state.raw["payment_intent"] == state.payment_intent_id  # the id only, as in the event
    event = sandbox.parse_webhook(body, header)
    assert event.event_id.startswith("sbx_evt_")
    assert (event.type, event.object_type, event.livemode) == (
        "checkout.session.completed",
        "checkout.session",
        False,
    )
    assert (event.session_id, event.payment_intent_id, event.order_id) == (
        session_id,
        state.payment_intent_id,
        ORDER_ID,
    )
    assert event.api_version == STRIPE_API_VERSION
    session = json.loads(body)["data"]["object"]
    assert {
        key: session[key] for key in ("client_reference_id", "amount_total", "currency", "metadata", "mode")
    } == {
        "client_reference_id": ORDER_ID,
        "amount_total": 1299,
        "currency": "usd",
        "metadata": {"order_id": ORDER_ID, "bundle": "EU-5GB-30D"},
        "mode": "payment",
    }
    assert sandbox.sandbox_return_url(session_id) == SUCCESS_URL.replace("{CHECKOUT_SESSION_ID}", session_id)


@pytest.mark.django_db
def test_sandbox_failed_payment(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id

    state, body, header = sandbox.sandbox_complete(session_id, "failed")

    assert (state.status, state.payment_status) == ("complete", "unpaid")
    assert (state.payment_intent_status, state.payment_failed) == ("requires_payment_method", True)
    assert sandbox.retrieve_checkout(session_id) == state
    assert sandbox.parse_webhook(body, header).type == "checkout.session.async_payment_failed"
    with pytest.raises(GatewayRejected):  # no successful payment to refund
        sandbox_refund(sandbox, state.payment_intent_id)


@pytest.mark.django_db
def test_sandbox_expired(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id

    state, body, header = sandbox.sandbox_complete(session_id, "expired")

    assert (state.status, state.payment_status) == ("expired", "unpaid")
    assert sandbox.parse_webhook(body, header).type == "checkout.session.expired"
    assert sandbox.sandbox_return_url(session_id) == CANCEL_URL


@pytest.mark.django_db
def test_sandbox_completes_a_session_once(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id
    sandbox.sandbox_complete(session_id, "paid")

    for outcome in ("paid", "failed", "expired"):
        with pytest.raises(GatewayRejected, match="is complete, not open"):
            sandbox.sandbox_complete(session_id, outcome)
    with pytest.raises(ValueError):
        sandbox.sandbox_complete(session_id, "refunded")
    with pytest.raises(CheckoutNotFound):
        sandbox.sandbox_complete("sbx_cs_doesnotexist", "paid")


@pytest.mark.django_db
def test_sandbox_session_expires_at_its_expiry_time(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id
    SandboxCheckout.objects.filter(session_id=session_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    with pytest.raises(GatewayRejected, match="is expired"):
        sandbox.sandbox_complete(session_id, "paid")
    assert sandbox.retrieve_checkout(session_id).status == "expired"


@pytest.mark.django_db
def test_sandbox_expire_checkout(sandbox):
    open_id = sandbox.create_checkout(checkout_request()).session_id
    paid_id = sandbox.create_checkout(checkout_request(idempotency_key="checkout:x:1")).session_id
    sandbox.sandbox_complete(paid_id, "paid")

    sandbox.expire_checkout(open_id)
    sandbox.expire_checkout(open_id)
    sandbox.expire_checkout(paid_id)

    assert sandbox.retrieve_checkout(open_id).status == "expired"
    assert sandbox.retrieve_checkout(paid_id).status == "complete"
    with pytest.raises(CheckoutNotFound):
        sandbox.expire_checkout("sbx_cs_doesnotexist")


@pytest.mark.django_db
def test_sandbox_refund_is_idempotent_per_key(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id
    intent = sandbox.sandbox_complete(session_id, "paid")[0].payment_intent_id

    first = sandbox_refund(sandbox, intent)
    second = sandbox_refund(sandbox, intent)

    assert second == first
    assert first.refund_id.startswith("sbx_re_")
    assert (first.status, first.amount_minor, first.currency, first.payment_intent_id) == (
        "succeeded",
        1299,
        "USD",
        intent,
    )
    assert first.metadata["order_id"] == ORDER_ID
    assert SandboxRefund.objects.count() == 1
    assert sandbox.retrieve_refund(first.refund_id) == first
    with pytest.raises(GatewayRejected, match="different refund"):
        sandbox_refund(sandbox, intent, amount=100)
    with pytest.raises(GatewayRejected, match="greater than the unrefunded amount"):
        sandbox_refund(sandbox, intent, amount=1, key="refund:second")


@pytest.mark.django_db
def test_sandbox_refund_refusals(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id
    intent = sandbox.sandbox_complete(session_id, "paid")[0].payment_intent_id

    with pytest.raises(GatewayRejected, match="No such payment_intent"):
        sandbox_refund(sandbox, "sbx_pi_unknown")
    with pytest.raises(GatewayRejected, match="greater than"):
        sandbox_refund(sandbox, intent, amount=1300)
    with pytest.raises(GatewayRejected, match="not EUR"):
        sandbox_refund(sandbox, intent, currency="EUR")
    with pytest.raises(GatewayRejected):
        sandbox_refund(sandbox, intent, amount=0)
    with pytest.raises(GatewayRejected):
        sandbox.retrieve_refund("sbx_re_unknown")
    assert SandboxRefund.objects.count() == 0
    partial = sandbox_refund(sandbox, intent, amount=500, key="refund:part")
    assert partial.amount_minor == 500


@pytest.mark.django_db
def test_sandbox_signature_is_checked(sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id
    _, body, header = sandbox.sandbox_complete(session_id, "paid")

    with pytest.raises(InvalidSignature):
        sandbox.parse_webhook(body.replace(b'"paid"', b'"unpaid"'), header)
    with pytest.raises(InvalidSignature):
        sandbox.parse_webhook(body, None)
    with pytest.raises(InvalidSignature):
        sandbox.parse_webhook(body, signing.sign(body, "whsec_test_other"))
    with pytest.raises(InvalidSignature, match="tolerance"):
        sandbox.parse_webhook(body, signing.sign(body, sandbox.webhook_secret, int(time.time()) - 301))


@pytest.mark.django_db
def test_sandbox_events_verify_with_the_stripe_sdk(settings, sandbox):
    session_id = sandbox.create_checkout(checkout_request()).session_id
    _, body, header = sandbox.sandbox_complete(session_id, "paid")

    assert stripe.WebhookSignature.verify_header(body, header, sandbox.webhook_secret, tolerance=300)


def test_sandbox_secret_comes_from_secret_key_unless_a_webhook_secret_is_set(settings):
    settings.STRIPE_WEBHOOK_SECRET = ""
    derived = sandbox_webhook_secret()
    assert derived.startswith("whsec_sandbox_")
    assert SandboxGateway().webhook_secret == derived

    settings.SECRET_KEY = "another-secret-key-that-is-long-enough-for-tests-0123456789"
    assert sandbox_webhook_secret() != derived

    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    assert SandboxGateway().webhook_secret == WEBHOOK_SECRET


def test_sandbox_refuses_to_run_in_production(settings):
    settings.DEBUG = False
    settings.SANDBOX_PAYMENTS_ALLOWED = False
    settings.PAYMENT_GATEWAY = "sandbox"

    with pytest.raises(ImproperlyConfigured, match="refused when DEBUG=False"):
        SandboxGateway()
    with pytest.raises(ImproperlyConfigured):
        get_gateway()

    settings.DEBUG = True
    assert get_gateway().name == "sandbox"


# --- Signing -----------------------------------------------------------------------------------------


def test_our_signatures_match_stripes():
    body = b'{"id": "evt_1", "object": "event"}'

    ours = signing.sign(body, WEBHOOK_SECRET, timestamp=1_700_000_000)

    assert ours == stripe.WebhookSignature.generate_signature_header(
        body.decode(), WEBHOOK_SECRET, 1_700_000_000
    )
    assert stripe.WebhookSignature.verify_header(
        body, signing.sign(body, WEBHOOK_SECRET), WEBHOOK_SECRET, 300
    )
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), WEBHOOK_SECRET)
    assert signing.verify(body, header, WEBHOOK_SECRET) == int(header.split(",")[0][2:])


def test_any_matching_v1_signature_passes():
    body = b"{}"
    good = signing.sign(body, WEBHOOK_SECRET)
    timestamp, signature = (part.split("=", 1)[1] for part in good.split(","))

    assert signing.verify(body, f"t={timestamp},v1={'0' * 64},v0=abc,v1={signature}", WEBHOOK_SECRET)


def test_age_limits():
    body, now = b"{}", 1_700_000_000

    assert signing.verify(body, signing.sign(body, WEBHOOK_SECRET, now - 300), WEBHOOK_SECRET, now=now)
    with pytest.raises(InvalidSignature):
        signing.verify(body, signing.sign(body, WEBHOOK_SECRET, now - 301), WEBHOOK_SECRET, now=now)
    with pytest.raises(InvalidSignature):  # stricter than the SDK: far-future timestamps are refused
        signing.verify(body, signing.sign(body, WEBHOOK_SECRET, now + 301), WEBHOOK_SECRET, now=now)
    assert signing.verify(body, signing.sign(body, WEBHOOK_SECRET, now - 9999), WEBHOOK_SECRET, 0, now=now)


@pytest.mark.parametrize(
    "header",
    ["", "garbage", "t=abc,v1=00", "t=1700000000", "v1=00", "t=1,t=2,v1=00", "t=1700000000,v1=\u00e9\u00e9"],
)
def test_malformed_headers_are_invalid_signatures(header):
    with pytest.raises(InvalidSignature):
        signing.verify(b"{}", header, WEBHOOK_SECRET, now=1_700_000_000)


def test_no_secret_no_verification():
    body = b"{}"
    with pytest.raises(InvalidSignature):
        signing.verify(body, signing.sign(body, WEBHOOK_SECRET), "")


# --- Factory and errors ------------------------------------------------------------------------------


def test_get_gateway_builds_once_and_follows_the_settings(stripe_settings):
    with override_settings(PAYMENT_GATEWAY="sandbox"):
        sandbox = get_gateway()
        assert get_gateway() is sandbox
        assert isinstance(sandbox, SandboxGateway)
        assert isinstance(sandbox, PaymentGateway)
    with override_settings(PAYMENT_GATEWAY="stripe"):
        built = get_gateway()
        assert isinstance(built, StripeGateway)
        assert isinstance(built, PaymentGateway)
        assert get_gateway() is built
        with override_settings(STRIPE_SECRET_KEY="sk_test_fake_rotated"):
            assert get_gateway() is not built
    assert get_gateway("sandbox") is not sandbox  # settings changed since: rebuilt
    with pytest.raises(ImproperlyConfigured, match="Unknown payment gateway"):
        get_gateway("paypal")


def test_only_unavailable_is_retryable():
    assert GatewayUnavailable("x").retryable is True
    for error in (GatewayRejected, CheckoutNotFound, InvalidSignature, GatewayError):
        assert error("x").retryable is False
    assert issubclass(GatewayUnavailable, GatewayError)


# --- Start-up settings -------------------------------------------------------------------------------

PRINT_PAYMENT_SETTINGS = (
    "from django.conf import settings as s; "
    "print(s.PAYMENT_GATEWAY, s.SANDBOX_PAYMENTS_ALLOWED, s.STRIPE_CHECKOUT_EXPIRY_MINUTES)"
)


def run_shell(env: dict[str, str]) -> subprocess.CompletedProcess:
    return run_manage("shell", "-v", "0", "-c", PRINT_PAYMENT_SETTINGS, env=env)


def test_production_refuses_the_sandbox_gateway_at_start_up():
    result = run_shell({**PRODUCTION_ENV, "PAYMENT_GATEWAY": "sandbox"})

    assert result.returncode != 0
    assert "PAYMENT_GATEWAY=sandbox takes no money and is refused when DEBUG=False" in result.stderr


@pytest.mark.parametrize(("minutes", "expected"), [("5", "30"), ("90", "90"), ("5000", "1440")])
def test_an_explicit_opt_in_allows_the_sandbox_and_expiry_is_clamped(minutes, expected):
    env = {**PRODUCTION_ENV, "PAYMENT_GATEWAY": "sandbox", "SANDBOX_PAYMENTS_ALLOWED": "true"}
    result = run_shell({**env, "STRIPE_CHECKOUT_EXPIRY_MINUTES": minutes})

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["sandbox", "True", expected]
