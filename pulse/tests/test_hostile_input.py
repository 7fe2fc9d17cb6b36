"""Hostile input gets the usual error body and a 4xx, never a 500 or an ERROR line in the log.

docs/reliability.md, "Hostile input → answer", lists every case here.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    SEED_ICCID,
    create_order,
    renewal_env_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("renewal_env")]

CHECK = "/api/esim/check/"
CREATE = "/api/esim/renewal/create/"
CONVERT = "/api/esim/currency/convert/"
WEBHOOK = "/api/esim/stripe/webhook/"
ALERTS = "/api/esim/alerts/"

TEN_MB_JSON = b'{"iccid": "' + b"8" * (10 * 1024 * 1024) + b'"}'
DEEPLY_NESTED = b'{"iccid": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"


@pytest.fixture
def client() -> APIClient:
    # A 500 comes back as a response (as a real server would send it), not as an exception in the test.
    return APIClient(raise_request_exception=False)


@pytest.fixture
def quiet_log(caplog):
    """Every record of WARNING or above; the test asserts none of them is an ERROR."""
    caplog.set_level(logging.WARNING)
    yield caplog
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [f"{r.name}: {r.getMessage()}" for r in errors]


def post_raw(client: APIClient, path: str, body: bytes, **extra):
    return client.generic("POST", path, body, content_type="application/json", **extra)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert isinstance(body["details"], str)
    return body


# --- oversized bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CHECK, CREATE, CONVERT, WEBHOOK, ALERTS])
def test_a_10_mb_body_is_413_payload_too_large(client, quiet_log, path):
    response = post_raw(client, path, TEN_MB_JSON)

    body = assert_error(response, 413, "payload_too_large")
    assert body["error"] == "The request body is too large."


class ExplodingStream:
    """A request body that must never be read."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def test_the_webhook_refuses_a_large_body_from_its_content_length_before_reading_it(
    client, quiet_log, settings
):
    settings.PAYMENT_WEBHOOK_MAX_BYTES = 4096
    too_big = post_raw(
        client,
        WEBHOOK,
        b"",
        CONTENT_LENGTH="5000",
        HTTP_STRIPE_SIGNATURE="t=1,v1=00",
        **{"wsgi.input": ExplodingStream()},
    )

    body = assert_error(too_big, 413, "payload_too_large")
    assert body["details"] == "Webhook bodies are limited to 4096 bytes."
    assert any("PAYMENT_WEBHOOK_MAX_BYTES=4096" in r.getMessage() for r in quiet_log.records)


def test_a_webhook_within_its_limit_is_still_verified(client, quiet_log, settings):
    settings.PAYMENT_WEBHOOK_MAX_BYTES = 4096

    response = post_raw(client, WEBHOOK, b"{" + b" " * 4000 + b"}", HTTP_STRIPE_SIGNATURE="t=1,v1=00")

    assert_error(response, 403, "invalid_signature")


# --- bodies nested too deeply to parse -----------------------------------------------------------------


@pytest.mark.parametrize("path", [CHECK, CREATE, CONVERT, ALERTS])
def test_a_body_nested_100000_deep_is_400_malformed_json(client, quiet_log, path):
    response = post_raw(client, path, DEEPLY_NESTED)

    body = assert_error(response, 400, "malformed_json")
    assert body["details"] == "JSON parse error - the body is nested too deeply."


# --- NUL characters (PostgreSQL text cannot hold them) -------------------------------------------------


@pytest.fixture
def on_postgres():
    if connection.vendor != "postgresql":
        pytest.skip(
            "NUL reaches the database as an error only on PostgreSQL (run with DATABASE_URL=postgres://…)"
        )


@pytest.mark.postgres
@pytest.mark.parametrize(
    "path", ["/api/esim/renewal/order/REN-%00ABC/", "/api/esim/sandbox/checkout/sbx%00x/"]
)
def test_a_nul_in_a_path_parameter_is_404(client, quiet_log, on_postgres, path):
    create_order(APIClient())  # a table with rows, as in production

    assert_error(client.get(path), 404, "not_found")
    assert_error(client.post(path, {"action": "pay"}), 404, "not_found")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "path", ["/api/esim/alerts/confirm/abc%00x/", "/api/esim/alerts/unsubscribe/abc%00x/"]
)
def test_a_nul_in_an_alert_link_is_404(client, quiet_log, on_postgres, path):
    assert_error(client.get(path), 404, "not_found")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "query",
    [
        f"/api/esim/renewal/options/?iccid={SEED_ICCID}%00&currency=USD",
        "/api/esim/currency/exchange-rate/?from=US%00D&to=EUR",
        "/api/esim/renewal/order/REN-ABC/?x=%00",
    ],
)
def test_a_nul_in_the_query_string_is_400(client, quiet_log, on_postgres, query):
    body = assert_error(client.get(query), 400, "invalid_input")
    assert body["details"] == "The query string contains a NUL character."


@pytest.mark.postgres
@pytest.mark.parametrize(
    "query",
    [
        "/admin/pulse/renewalorder/?status__exact=%00",
        "/admin/pulse/renewalorder/?q=REN%00",
        "/admin/?x=%00",
        "/admin/esim-support/?iccid=5583%00",
        "/admin/overview/?currency=US%00D",
    ],
)
def test_a_nul_in_an_admin_filter_is_400_not_a_database_error(client, quiet_log, on_postgres, query):
    create_order(APIClient())
    client.force_login(User.objects.create_superuser("staff", "staff@example.com", "fake-staff-password"))

    response = client.get(query)

    assert response.status_code == 400
    assert response.content == b"The query string contains a NUL character."


def test_a_nul_inside_a_json_string_is_an_invalid_input(client, quiet_log):
    response = client.post(CHECK, {"iccid": "8932042000010245583\x00"}, format="json")

    body = assert_error_with_fields(response)
    assert body["fields"] == {"iccid": ["Null characters are not allowed."]}


def test_a_nul_inside_an_alert_subscription_is_an_invalid_input(client, quiet_log):
    response = client.post(
        ALERTS, {"iccid": "8932042000010245583", "email": "traveller@example.com\x00"}, format="json"
    )

    body = assert_error_with_fields(response)
    assert list(body["fields"]) == ["email"]


def assert_error_with_fields(response) -> dict:
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["error"]) == ("invalid_input", "Invalid input.")
    return body


# --- floods of fields ---------------------------------------------------------------------------------


def test_more_query_fields_than_django_parses_is_400(client, quiet_log):
    flood = "&".join(f"f{i}=1" for i in range(1500))

    response = client.get(f"/api/esim/currency/exchange-rate/?from=USD&to=EUR&{flood}")

    body = assert_error(response, 400, "bad_request")
    assert "number of GET/POST parameters exceeded" in body["details"]
