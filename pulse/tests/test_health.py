from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from pulse.tests.background_helpers import live_fixture  # noqa: F401 - registers `live`

pytestmark = pytest.mark.django_db


def test_health_reports_database_cache_and_providers():
    response = APIClient().get("/api/esim/health/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "status",
        "timestamp",
        "apis",
        "database",
        "cache",
        "circuit_breakers",
        "mode",
        "emails",
        "background",
        "wallets",
    }
    assert body["emails"] == {"overdue": 0, "failing_since": None}
    assert {provider: state["sales"] for provider, state in body["wallets"].items()} == {
        "airhub": "open",
        "esimcard": "open",
        "travelroam": "open",
    }
    assert body["circuit_breakers"] == {"airhub": "closed", "esimcard": "closed", "travelroam": "closed"}
    assert body["database"] == "ok"
    assert body["cache"] == "ok"
    assert set(body["apis"]) == {"airhub", "esimcard", "travelroam"}
    assert body["timestamp"].endswith("Z")


def test_health_is_503_unhealthy_when_the_database_is_down():
    with mock.patch(
        "pulse.services.health.connection.ensure_connection",
        side_effect=OperationalError("connection refused"),
    ):
        response = APIClient().get("/api/esim/health/")
    assert response.status_code == 503
    assert response.json()["status"] == "unhealthy"
    assert response.json()["database"] == "error"


def test_health_is_degraded_when_the_cache_fails():
    with mock.patch("pulse.services.health.cache.set", side_effect=ConnectionError("redis down")):
        response = APIClient().get("/api/esim/health/")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["cache"] == "error"


def test_the_test_settings_run_in_sandbox_so_health_says_degraded_and_why():
    # The test settings: ESIM_SANDBOX=true and PAYMENT_GATEWAY=sandbox with DEBUG=False.
    body = APIClient().get("/api/esim/health/").json()
    assert body["status"] == "degraded"
    assert body["mode"] == {"providers": "sandbox", "payments": "sandbox"}
    assert (body["database"], body["cache"]) == ("ok", "ok")


def test_health_is_healthy_with_real_providers_and_stripe(live):
    response = APIClient().get("/api/esim/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "healthy"
    assert body["mode"] == {"providers": "live", "payments": "stripe"}
    assert body["apis"] == {"airhub": "not_configured", "esimcard": "not_configured", "travelroam": True}


@pytest.mark.parametrize(
    ("sandbox_providers", "gateway", "mode"),
    [
        (True, "stripe", {"providers": "sandbox", "payments": "stripe"}),
        (False, "sandbox", {"providers": "live", "payments": "sandbox"}),
    ],
)
def test_either_half_in_sandbox_is_degraded(live, settings, sandbox_providers, gateway, mode):
    settings.ESIM_SANDBOX = sandbox_providers
    settings.PAYMENT_GATEWAY = gateway
    body = APIClient().get("/api/esim/health/").json()
    assert (body["status"], body["mode"]) == ("degraded", mode)
