"""Secrets hygiene: log lines and public answers of a full flow hold no activation secret, token,
password or API key, and log lines hold only masked ICCIDs. Plus: the admin is staff-only and the
CORS allowlist is the settings' (docs/reliability.md, "Security").

The flow runs against the providers over real HTTP (so urllib3 and the clients log as in production)
and Stripe as the fake Stripe server; every logger is at DEBUG, more than production ever logs.
Records of the simulators themselves (`providers.sandbox.*`) are left out: they stand in for the
providers' own servers, whose logs are not ours.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from providers.sandbox import DEMO_ICCIDS, SANDBOX_CREDENTIALS
from pulse.services.reconciler import reconcile_once
from tests.fakes.stripe import sign_payload, start_fake_stripe
from tests.reliability.helpers import OWNED_BY, SEED_ICCID, simulators_over_http

pytestmark = pytest.mark.django_db

WEBHOOK_SECRET = "whsec_test_fake"
STRIPE_KEY = "sk_test_fake"
FULL_ICCID = re.compile(r"(?<!\d)89\d{16,20}(?!\d)")
# LogRecord's own attributes; anything else on a record came in through `extra=`.
STANDARD_ATTRIBUTES = set(vars(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None))) | {
    "message",
    "asctime",
}
ALL_LOGGERS = ("", "urllib3", "stripe", "django", "django.request", "django.server", "providers", "pulse")


@pytest.fixture(scope="module")
def fake_stripe():
    server = start_fake_stripe()
    yield server
    server.stop()


@pytest.fixture
def stripe_settings(settings, fake_stripe):
    fake_stripe.reset()
    fake_stripe.configure_webhook(None, None)
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = STRIPE_KEY
    settings.STRIPE_API_BASE = fake_stripe.base_url
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    settings.FRONTEND_URL = "https://renew.example.test"
    return fake_stripe


class RecordingClient(APIClient):
    """An API client that keeps every response body it received."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.bodies: list[str] = []

    def request(self, **kwargs):
        response = super().request(**kwargs)
        self.bodies.append(response.content.decode(errors="replace"))
        return response


def record_text(record: logging.LogRecord) -> str:
    """Everything a formatter or a log shipper could print for this record."""
    extras = {key: value for key, value in vars(record).items() if key not in STANDARD_ATTRIBUTES}
    parts = [record.getMessage(), repr(record.args), repr(extras)]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    if record.stack_info:
        parts.append(record.stack_info)
    return "\n".join(parts)


def secrets_of(world, issued_tokens: list[str]) -> dict[str, str]:
    """Every secret the flow could have leaked, named for the failure message."""
    found: dict[str, str] = {}
    data = world.data
    for order in data.airhub_orders.values():
        found[order.matching_id] = "AirHub matching id"
        found[f"LPA:1${order.smdp}${order.matching_id}"] = "AirHub LPA string"
    for sim in data.card_sims.values():
        found[sim.matching_id] = "eSIMCard matching id"
        found[sim.lpa()] = "eSIMCard LPA string"
    for esim in data.tr_esims.values():
        found[esim.matching_id] = "TravelRoam matching id"
        found[f"LPA:1${esim.smdp}${esim.matching_id}"] = "TravelRoam LPA string"
    for provider, creds in SANDBOX_CREDENTIALS.items():
        for name in ("password", "api_key", "client_secret"):
            if name in creds:
                found[creds[name]] = f"{provider} {name}"
    for token in issued_tokens:
        found[token] = "provider login token"
        found[token.split("|", 1)[-1]] = "provider login token (opaque part)"
    found[STRIPE_KEY] = "Stripe secret key"
    found[WEBHOOK_SECRET] = "Stripe webhook secret"
    return found


def full_flow(api: RecordingClient, world, fake_stripe) -> list[int]:
    """Checks, options, create, pay, confirm, webhook, a refund after a provider failure, a timed-out
    top-up settled by the reconciler, provider faults and a re-login. Returns the statuses seen."""
    statuses = [
        api.post("/api/esim/check/", {"iccid": iccid}, format="json").status_code
        for iccid in DEMO_ICCIDS.values()
    ]
    statuses.append(
        api.post("/api/esim/check/", {"iccid": "8932 0420-0001 0245 583"}, format="json").status_code
    )
    statuses.append(api.post("/api/esim/check/", {"iccid": "8932042000010245584"}, format="json").status_code)
    statuses.append(
        api.get("/api/esim/renewal/options/", {"iccid": SEED_ICCID, "currency": "USD"}).status_code
    )

    def buy(expected: str) -> None:
        created = api.post(
            "/api/esim/renewal/create/", {"iccid": SEED_ICCID, "currency": "USD"}, format="json"
        )
        statuses.append(created.status_code)
        session_id, order_id = created.json()["payment"]["session_id"], created.json()["order"]["order_id"]
        fake_stripe.pay(session_id)
        confirmed = api.post("/api/esim/renewal/confirm-payment/", {"session_id": session_id}, format="json")
        assert confirmed.json()["order"]["status"] == expected, confirmed.json()
        event = next(e for e in fake_stripe.state.events if e["data"]["object"].get("id") == session_id)
        payload = json.dumps(event)
        webhook = api.generic(
            "POST",
            "/api/esim/stripe/webhook/",
            payload.encode(),
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign_payload(payload, WEBHOOK_SECRET),
        )
        statuses.extend([confirmed.status_code, webhook.status_code])
        statuses.append(api.get(f"/api/esim/renewal/order/{order_id}/").status_code)

    buy("COMPLETED")
    world.set_fault("travelroam", "rejected", path_contains="processorders")
    buy("REFUNDED")
    world.set_fault("travelroam", "timeout", path_contains="processorders", times=1, delay_s=2.0)
    with override_settings(PROVIDER_TIMEOUT=0.5):
        buy("FULFILLING")
    world.clear_faults()
    summary = reconcile_once(now=timezone.now() + timedelta(hours=1))
    assert summary.counts["completed"] == 1

    cache.clear()  # a worker with nothing cached meets a failing provider
    world.set_fault("airhub", "http_500")
    statuses.append(api.post("/api/esim/check/", {"iccid": OWNED_BY["airhub"]}, format="json").status_code)
    world.clear_faults()
    world.set_fault("esimcard", "token_expired")
    statuses.append(api.post("/api/esim/check/", {"iccid": OWNED_BY["esimcard"]}, format="json").status_code)
    statuses.append(api.get("/api/esim/health/").status_code)
    return statuses


def test_no_secret_and_no_full_iccid_in_any_log_line_or_public_answer(caplog, stripe_settings, monkeypatch):
    for name in ALL_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    api = RecordingClient()
    with simulators_over_http(PROVIDER_TIMEOUT=5.0, STATUS_DEADLINE=8.0, STATUS_GRACE_SECONDS=2.0) as (
        world,
        _,
    ):
        issued: list[str] = []
        real_issue = world.tokens.issue

        def issue(provider: str) -> str:
            token = real_issue(provider)
            issued.append(token)
            return token

        monkeypatch.setattr(world.tokens, "issue", issue)
        statuses = full_flow(api, world, stripe_settings)
        secrets = secrets_of(world, issued)

    ours = [r for r in caplog.records if not r.name.startswith("providers.sandbox")]
    assert len(ours) > 100, "the flow logged too little to prove anything"
    assert issued, "no provider login happened"
    assert statuses.count(200) + statuses.count(201) >= 20
    assert {400, 404, 503} <= set(statuses)
    leaks = []
    for record in ours:
        text = record_text(record)
        leaks += [
            f"{record.name}: {what} in {text[:200]!r}" for secret, what in secrets.items() if secret in text
        ]
        leaks += [f"{record.name}: full ICCID {m} in {text[:200]!r}" for m in FULL_ICCID.findall(text)]
    for body in api.bodies:
        leaks += [
            f"API answer: {what} in {body[:200]!r}" for secret, what in secrets.items() if secret in body
        ]
    assert leaks == []


def test_masked_iccids_are_what_the_logs_carry(caplog):
    # The companion of the scan above: the logs do name eSIMs, in the masked form.
    caplog.set_level(logging.INFO, logger="pulse")
    with simulators_over_http():
        APIClient().post("/api/esim/check/", {"iccid": SEED_ICCID}, format="json")
    assert "893204*********5583" in caplog.text
    assert SEED_ICCID not in caplog.text


# --- the admin is for staff only --------------------------------------------------------------------


@pytest.fixture
def people(db):
    users = get_user_model().objects
    return {
        "customer": users.create_user("customer", password="fake-password-1"),
        "staff": users.create_user("staffer", password="fake-password-2", is_staff=True, is_superuser=True),
    }


@pytest.mark.parametrize("path", ["/admin/", "/admin/pulse/renewalorder/", "/admin/auth/user/"])
def test_anonymous_visitors_are_sent_to_the_admin_login(path):
    response = Client().get(path)
    assert response.status_code == 302
    assert response["Location"] == f"/admin/login/?next={path}"


@pytest.mark.parametrize("path", ["/admin/", "/admin/pulse/renewalorder/", "/admin/auth/user/"])
def test_a_signed_in_non_staff_user_is_refused(people, path):
    client = Client()
    client.force_login(people["customer"])
    response = client.get(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert Client().get(path, follow=True).templates[0].name == "admin/login.html"


def test_a_non_staff_user_cannot_sign_in_to_the_admin(people):
    client = Client()
    response = client.post("/admin/login/", {"username": "customer", "password": "fake-password-1"})
    assert response.status_code == 200  # the form again, with the error
    assert "staff account" in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_staff_get_in(people):
    client = Client()
    client.force_login(people["staff"])
    assert client.get("/admin/").status_code == 200
    assert client.get("/admin/pulse/renewalorder/").status_code == 200


# --- CORS comes from settings -----------------------------------------------------------------------


@override_settings(CORS_ALLOWED_ORIGINS=["https://renew.example.test"])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://renew.example.test", True),
        ("https://evil.example.test", False),
        ("http://localhost:3000", False),
    ],
)
def test_only_origins_in_the_allowlist_get_cors_headers(origin, allowed):
    client = APIClient()
    simple = client.get("/api/esim/currency/supported/", HTTP_ORIGIN=origin)
    preflight = client.options(
        "/api/esim/check/",
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )

    for response in (simple, preflight):
        assert response.get("Access-Control-Allow-Origin") == (origin if allowed else None)
    assert simple.status_code == 200  # CORS is the browser's business: the server still answers
