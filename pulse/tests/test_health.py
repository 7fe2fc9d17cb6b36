from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_health_reports_database_cache_and_providers():
    response = APIClient().get("/api/esim/health/")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "timestamp", "apis", "database", "cache", "circuit_breakers", "background"}
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
