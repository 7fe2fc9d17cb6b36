"""The fake Stripe server, driven through the real stripe SDK (no Django needed).

Run: .venv/bin/pytest -p no:django tests/fakes/test_stripe_fake.py -q
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests
import stripe

from tests.fakes.stripe import (
    FakeStripeError,
    FakeStripeServer,
    parse_stripe_form,
    sign_payload,
    start_fake_stripe,
)

WEBHOOK_SECRET = "whsec_test_fake"


class WebhookReceiver:
    """A stand-in for our webhook endpoint: records raw bodies and headers, answers ``status``."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.on_event: Callable[[], None] | None = None  # runs while the fake waits for our answer
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.calls.append((dict(self.headers), body))
                if receiver.on_event:
                    receiver.on_event()
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/api/esim/stripe/webhook/"
        threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def events(self) -> list[stripe.Event]:
        """Every delivery, verified the way our webhook view will verify it."""
        return [
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], WEBHOOK_SECRET)
            for headers, body in self.calls
        ]

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Shadows the repository-wide autouse cache fixture (root conftest.py): the fake uses no Django,
    so these tests also run with ``-p no:django``."""


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def server(receiver: WebhookReceiver) -> Iterator[FakeStripeServer]:
    server = start_fake_stripe(webhook_url=receiver.url, webhook_secret=WEBHOOK_SECRET)
    yield server
    server.stop()


@pytest.fixture
def client(server: FakeStripeServer) -> stripe.StripeClient:
    # max_network_retries=0: a 5xx must surface at once instead of sleeping through SDK retries.
    return stripe.StripeClient("sk_test_fake", base_addresses={"api": server.base_url}, max_network_retries=0)


def line_items(currency: str = "usd", unit_amount: int = 1299, quantity: int = 1) -> list[dict[str, Any]]:
    price_data = {"currency": currency, "unit_amount": unit_amount, "product_data": {"name": "eSIM 5 GB"}}
    return [{"price_data": price_data, "quantity": quantity}]


def session_params(order_id: str = "REN-1", **overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": line_items(quantity=2),
        "metadata": {"order_id": order_id},
        "payment_intent_data": {"metadata": {"order_id": order_id}},
        "client_reference_id": order_id,
        "customer_email": "buyer@example.com",
        "expires_at": int(time.time()) + 3600,
        "success_url": "http://localhost:3000/renewal/success?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://localhost:3000/renewal/cancel",
        "payment_method_types": ["card"],
    }
    params.update(overrides)
    return params


def paid_session(client: stripe.StripeClient, server: FakeStripeServer, order_id: str = "REN-1") -> Any:
    session = client.v1.checkout.sessions.create(params=session_params(order_id))
    server.pay(session.id)
    return client.v1.checkout.sessions.retrieve(session.id)


def api_requests(server: FakeStripeServer, path: str) -> list[dict[str, Any]]:
    return [entry for entry in server.state.requests if entry["path"] == path]


# --- Checkout Sessions ----------------------------------------------------------------------------------


def test_create_and_retrieve_session_with_the_sdk(client: stripe.StripeClient, server: FakeStripeServer):
    created = client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "checkout:REN-1:1"}
    )

    assert created.id.startswith("cs_test_")
    assert (created.object, created.status, created.payment_status) == ("checkout.session", "open", "unpaid")
    assert (created.amount_total, created.amount_subtotal, created.currency) == (2598, 2598, "usd")
    assert created.payment_intent is None  # only exists once paid (API >= 2022-08-01)
    assert created.metadata["order_id"] == "REN-1"
    assert created.client_reference_id == "REN-1"
    assert created.customer_email == "buyer@example.com"
    assert created.url == f"{server.base_url}/pay/{created.id}"
    assert created.livemode is False
    retrieved = client.v1.checkout.sessions.retrieve(created.id)
    assert retrieved.to_dict() == created.to_dict()
    [entry] = api_requests(server, "/v1/checkout/sessions")
    assert entry["idempotency_key"] == "checkout:REN-1:1"
    assert entry["params"]["line_items"][0]["price_data"]["unit_amount"] == "1299"
    assert entry["params"]["payment_intent_data"] == {"metadata": {"order_id": "REN-1"}}


def test_retrieve_can_expand_line_items(client: stripe.StripeClient):
    created = client.v1.checkout.sessions.create(params=session_params())

    session = client.v1.checkout.sessions.retrieve(created.id, params={"expand": ["line_items"]})

    [item] = session.line_items.data
    assert (item.description, item.quantity, item.amount_total) == ("eSIM 5 GB", 2, 2598)
    assert item.price.unit_amount == 1299
    assert [i.id for i in client.v1.checkout.sessions.line_items.list(created.id).data] == [item.id]


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"mode": "subscription"}, "mode"),
        ({"line_items": line_items(unit_amount=0)}, "line_items[0][price_data][unit_amount]"),
        ({"line_items": line_items(quantity=0)}, "line_items[0][quantity]"),
        ({"line_items": line_items(currency="USD")}, "line_items[0][price_data][currency]"),
        ({"expires_at": int(time.time()) + 60}, "expires_at"),
        ({"expires_at": int(time.time()) + 25 * 3600}, "expires_at"),
        ({"metdata": {"order_id": "REN-1"}}, "metdata"),  # a typo must not pass silently
    ],
)
def test_invalid_session_params_are_rejected_like_stripe(client: stripe.StripeClient, overrides, param):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.create(params=session_params(**overrides))

    assert caught.value.http_status == 400
    assert caught.value.param == param


def test_unknown_api_key_gets_401(server: FakeStripeServer):
    live = stripe.StripeClient(
        "sk_" + "live_notreal1234", base_addresses={"api": server.base_url}, max_network_retries=0
    )

    with pytest.raises(stripe.AuthenticationError) as caught:
        live.v1.checkout.sessions.create(params=session_params())

    assert caught.value.http_status == 401
    assert "Invalid API Key provided" in caught.value.user_message
    assert "notreal" not in caught.value.user_message  # masked, as Stripe does
    assert server.state.sessions == {}


def test_unknown_session_is_resource_missing(client: stripe.StripeClient):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.checkout.sessions.retrieve("cs_test_nope")

    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


def test_expire_via_api_only_works_on_open_sessions(client, server, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)

    assert (expired.status, expired.url) == ("expired", None)
    assert server.wait_for_webhooks()  # API-caused events go out in the background, as with Stripe
    [event] = receiver.events()
    assert event.type == "checkout.session.expired"
    [expire_call, _] = api_requests(server, f"/v1/checkout/sessions/{session.id}/expire")
    assert (event.request.id, event.request.idempotency_key) == (
        expire_call["id"],
        expire_call["idempotency_key"],
    )


def test_legacy_global_api_base_works_too(server: FakeStripeServer, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(stripe, "api_base", server.base_url)
    monkeypatch.setattr(stripe, "api_key", "sk_test_fake")
    monkeypatch.setattr(stripe, "max_network_retries", 0)

    session = stripe.checkout.Session.create(**session_params())

    assert stripe.checkout.Session.retrieve(session.id).status == "open"


# --- Paying, webhooks -----------------------------------------------------------------------------------


def test_pay_delivers_a_signed_completed_event(client, server: FakeStripeServer, receiver: WebhookReceiver):
    session = client.v1.checkout.sessions.create(params=session_params())

    result = server.pay(session.id)

    assert [(d["type"], d["status"]) for d in result["deliveries"]] == [("checkout.session.completed", 200)]
    [(headers, _)] = receiver.calls
    assert headers["Content-Type"].startswith("application/json")
    [event] = receiver.events()  # construct_event verified t=...,v1=... with the real secret
    assert event.id == result["events"][0]["id"]
    assert (event.livemode, event.request.id) == (False, None)
    paid = event.data.object
    assert (paid.id, paid.status, paid.payment_status) == (session.id, "complete", "paid")
    intent = client.v1.payment_intents.retrieve(paid.payment_intent)
    assert intent.metadata["order_id"] == "REN-1"  # copied from payment_intent_data, not session metadata
    assert (intent.status, intent.amount_received) == ("succeeded", 2598)
    assert intent.latest_charge.startswith("ch_")


def test_webhook_handler_can_call_back_into_the_fake(client, server: FakeStripeServer, receiver):
    # Our webhook view re-retrieves the Session while the fake waits for its answer: that must not deadlock.
    session = client.v1.checkout.sessions.create(params=session_params())
    seen: list[str] = []
    receiver.on_event = lambda: seen.append(client.v1.checkout.sessions.retrieve(session.id).payment_status)

    result = server.pay(session.id)

    assert result["deliveries"][0]["status"] == 200
    assert seen == ["paid"]


def test_pay_control_route_reports_webhook_status(
    client, server: FakeStripeServer, receiver: WebhookReceiver
):
    session = client.v1.checkout.sessions.create(params=session_params())
    receiver.status = 500

    answer = requests.post(f"{server.base_url}/_test/sessions/{session.id}/pay", timeout=5)

    assert answer.status_code == 200
    assert answer.json()["deliveries"][0]["status"] == 500
    assert answer.json()["object"]["payment_status"] == "paid"
    again = requests.post(f"{server.base_url}/_test/sessions/{session.id}/pay", timeout=5)
    assert again.status_code == 400  # already complete


def test_resend_delivers_the_same_event_again(client, server: FakeStripeServer, receiver: WebhookReceiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    event_id = server.pay(session.id)["events"][0]["id"]

    answer = requests.post(f"{server.base_url}/_test/events/{event_id}/resend", timeout=5)

    assert answer.json()["deliveries"][0]["status"] == 200
    first, second = receiver.events()
    assert first.id == second.id == event_id
    assert receiver.calls[0][1] == receiver.calls[1][1]


def test_signature_matches_stripe_sdk_helper():
    payload = json.dumps({"id": "evt_1", "object": "event"})

    header = sign_payload(payload, WEBHOOK_SECRET, timestamp=1_700_000_000)

    assert header == stripe.WebhookSignature.generate_signature_header(payload, WEBHOOK_SECRET, 1_700_000_000)


@pytest.mark.parametrize(
    ("actions", "expected_types", "payment_status"),
    [
        (["async_pending"], ["checkout.session.completed"], "unpaid"),
        (
            ["async_pending", "async_succeed"],
            ["checkout.session.completed", "checkout.session.async_payment_succeeded"],
            "paid",
        ),
        (["fail"], ["checkout.session.completed", "checkout.session.async_payment_failed"], "unpaid"),
        (["expire"], ["checkout.session.expired"], "unpaid"),
    ],
)
def test_customer_outcomes_emit_stripe_events(
    client, server, receiver, actions, expected_types, payment_status
):
    session = client.v1.checkout.sessions.create(params=session_params())

    for action in actions:
        getattr(server, action)(session.id)

    assert [event.type for event in receiver.events()] == expected_types
    assert [event["type"] for event in server.state.events] == expected_types
    assert client.v1.checkout.sessions.retrieve(session.id).payment_status == payment_status


def test_pay_page_renders_and_its_pay_button_redirects_to_success_url(client, server: FakeStripeServer):
    session = client.v1.checkout.sessions.create(params=session_params())

    page = requests.get(session.url, timeout=5)
    answer = requests.post(
        f"{server.base_url}/_test/sessions/{session.id}/pay?redirect=1", allow_redirects=False, timeout=5
    )

    assert page.status_code == 200
    assert "text/html" in page.headers["Content-Type"]
    assert "eSIM 5 GB" in page.text
    assert "2598" in page.text
    assert f'action="/_test/sessions/{session.id}/pay?redirect=1"' in page.text
    assert 'href="http://localhost:3000/renewal/cancel"' in page.text
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"http://localhost:3000/renewal/success?session_id={session.id}"
    assert server.state.sessions[session.id]["payment_status"] == "paid"


# --- Refunds --------------------------------------------------------------------------------------------


def test_partial_then_full_refund(client: stripe.StripeClient, server: FakeStripeServer):
    session = paid_session(client, server)

    partial = client.v1.refunds.create(
        params={"payment_intent": session.payment_intent, "amount": 500, "metadata": {"order_id": "REN-1"}},
        options={"idempotency_key": "refund:REN-1"},
    )
    rest = client.v1.refunds.create(params={"payment_intent": session.payment_intent})

    assert partial.id.startswith("re_")
    assert (partial.object, partial.status, partial.amount, partial.currency) == (
        "refund",
        "succeeded",
        500,
        "usd",
    )
    assert partial.metadata["order_id"] == "REN-1"
    assert client.v1.refunds.retrieve(partial.id).payment_intent == session.payment_intent
    assert rest.amount == 2598 - 500
    assert api_requests(server, "/v1/refunds")[0]["idempotency_key"] == "refund:REN-1"
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": session.payment_intent, "amount": 1})
    assert caught.value.code == "charge_already_refunded"


def test_refund_more_than_captured_is_rejected(client: stripe.StripeClient, server: FakeStripeServer):
    session = paid_session(client, server)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": session.payment_intent, "amount": 2599})

    assert (caught.value.http_status, caught.value.param) == (400, "amount")
    assert server.state.refunds == {}


def test_refund_of_unknown_payment_intent_is_resource_missing(client: stripe.StripeClient):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.refunds.create(params={"payment_intent": "pi_nope"})

    assert (caught.value.code, caught.value.param) == ("resource_missing", "payment_intent")


def test_pending_refund_settles_later_with_refund_updated(client, server: FakeStripeServer, receiver):
    session = paid_session(client, server)
    requests.post(f"{server.base_url}/_test/refunds/mode", json={"mode": "pending"}, timeout=5)

    refund = client.v1.refunds.create(params={"payment_intent": session.payment_intent})
    settled = requests.post(
        f"{server.base_url}/_test/refunds/{refund.id}/settle", json={"status": "failed"}, timeout=5
    )

    assert refund.status == "pending"
    assert settled.json()["deliveries"][0]["status"] == 200
    assert client.v1.refunds.retrieve(refund.id).status == "failed"
    updated = receiver.events()[-1]
    assert (updated.type, updated.data.object.status) == ("charge.refund.updated", "failed")
    # a failed refund gives the money back to refund
    assert client.v1.refunds.create(params={"payment_intent": session.payment_intent}).amount == 2598


def test_failed_refund_mode_returns_failed_and_sends_refund_updated(
    client, server: FakeStripeServer, receiver
):
    session = paid_session(client, server)
    server.set_refund_mode("failed")

    refund = client.v1.refunds.create(params={"payment_intent": session.payment_intent})

    assert refund.status == "failed"
    assert server.wait_for_webhooks()
    assert [event.type for event in receiver.events()][-2:] == ["refund.created", "charge.refund.updated"]


# --- Idempotency ----------------------------------------------------------------------------------------


def test_same_key_and_params_replays_the_first_response(
    client: stripe.StripeClient, server: FakeStripeServer
):
    params = session_params()
    first = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "checkout:REN-1:1"})

    second = client.v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "checkout:REN-1:1"}
    )

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(server.state.sessions) == 1
    assert [entry["replayed"] for entry in server.state.requests] == [False, True]


def test_same_key_with_other_params_is_an_idempotency_error(client: stripe.StripeClient):
    client.v1.checkout.sessions.create(
        params=session_params(), options={"idempotency_key": "checkout:REN-1:1"}
    )

    with pytest.raises(stripe.IdempotencyError) as caught:
        client.v1.checkout.sessions.create(
            params=session_params("REN-2"), options={"idempotency_key": "checkout:REN-1:1"}
        )

    assert caught.value.http_status == 400
    assert "same parameters" in caught.value.user_message


def test_concurrent_requests_with_one_key_create_one_session(server: FakeStripeServer):
    params, results = session_params(), []

    def create() -> None:
        client = stripe.StripeClient(
            "sk_test_fake", base_addresses={"api": server.base_url}, max_network_retries=0
        )
        results.append(
            client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k1"}).id
        )

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 8
    assert len(set(results)) == 1
    assert len(server.state.sessions) == 1


# --- Failure injection and the control routes ------------------------------------------------------------


def test_fail_next_500_surfaces_as_api_error_once(client: stripe.StripeClient, server: FakeStripeServer):
    answer = requests.post(
        f"{server.base_url}/_test/fail_next",
        json={"path_contains": "/v1/checkout/sessions", "status": 500, "times": 1},
        timeout=5,
    )

    with pytest.raises(stripe.APIError) as caught:
        client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k1"})
    retried = client.v1.checkout.sessions.create(params=session_params(), options={"idempotency_key": "k1"})

    assert answer.status_code == 200
    assert caught.value.http_status == 500
    assert retried.status == "open"  # the injected 500 was not saved under the key
    assert [entry["injected"] for entry in server.state.requests] == [True, False]


def test_fail_next_status_0_drops_the_connection(client: stripe.StripeClient, server: FakeStripeServer):
    server.fail_next("/v1/refunds", status=0)

    with pytest.raises(stripe.APIConnectionError):
        client.v1.refunds.create(params={"payment_intent": "pi_whatever"})

    assert server.state.requests[-1]["injected"] is True


def test_stopped_server_is_unreachable():
    server = start_fake_stripe()
    client = stripe.StripeClient(
        "sk_test_fake", base_addresses={"api": server.base_url}, max_network_retries=0
    )
    client.v1.checkout.sessions.create(params=session_params())  # leaves a kept-alive connection behind

    server.stop()

    with pytest.raises(stripe.APIConnectionError):
        client.v1.checkout.sessions.create(params=session_params())


def test_control_routes_list_requests_events_and_reset(client, server: FakeStripeServer):
    session = client.v1.checkout.sessions.create(params=session_params())
    server.pay(session.id)

    logged = requests.get(f"{server.base_url}/_test/requests", timeout=5).json()["data"]
    events = requests.get(f"{server.base_url}/_test/events", timeout=5).json()["data"]
    reset = requests.post(f"{server.base_url}/_test/reset", timeout=5)

    assert [(entry["method"], entry["path"], entry["status"]) for entry in logged] == [
        ("POST", "/v1/checkout/sessions", 200)
    ]
    assert logged[0]["stripe_version"]  # the SDK's pinned version header is recorded
    assert [event["type"] for event in events] == ["checkout.session.completed"]
    assert reset.status_code == 200
    assert (server.state.sessions, server.state.events, server.state.requests) == ({}, [], [])


def test_webhook_can_be_configured_at_runtime(client, server: FakeStripeServer, receiver: WebhookReceiver):
    requests.post(f"{server.base_url}/_test/webhook", json={"url": None, "secret": None}, timeout=5)
    session = client.v1.checkout.sessions.create(params=session_params())

    silent = server.pay(session.id)
    bad = requests.post(f"{server.base_url}/_test/webhook", json={"url": receiver.url}, timeout=5)

    assert silent["deliveries"] == []
    assert receiver.calls == []
    assert bad.status_code == 400  # a URL without a signing secret
    with pytest.raises(FakeStripeError):
        server.resend_event(silent["events"][0]["id"])


def test_parse_stripe_form_decodes_bracket_notation():
    body = (
        "mode=payment&line_items[0][price_data][unit_amount]=1299&line_items[0][quantity]=1"
        "&line_items[1][quantity]=2&metadata[order_id]=REN-1&metadata[0]=x&payment_method_types[0]=card"
        "&payment_intent_data[metadata][order_id]=REN-1"
    )

    assert parse_stripe_form(body) == {
        "mode": "payment",
        "line_items": [{"price_data": {"unit_amount": "1299"}, "quantity": "1"}, {"quantity": "2"}],
        "metadata": {"order_id": "REN-1", "0": "x"},
        "payment_method_types": ["card"],
        "payment_intent_data": {"metadata": {"order_id": "REN-1"}},
    }
