"""Every API error has the body {"error", "code", "details"} (contract §4)."""

import logging

import pytest
from django.contrib.auth.models import Group
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db, pytest.mark.urls("pulse.tests.urls_for_errors")]


@pytest.fixture
def client():
    return APIClient(raise_request_exception=False)


def test_unknown_api_route_is_json_404(client):
    response = client.get("/api/esim/does-not-exist/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": "Not found.",
        "code": "not_found",
        "details": "No API route matches /api/esim/does-not-exist/.",
    }


def test_wrong_method_is_405_with_code(client):
    response = client.delete("/api/esim/health/")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert isinstance(response.json()["details"], str)


def test_malformed_json_is_400_malformed_json(client):
    response = client.post("/api/test/raise/ok/", data='{"name": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_json"
    assert response.json()["error"] == "Malformed JSON in the request body."


def test_validation_errors_list_fields_and_keep_details_a_string(client):
    response = client.post("/api/test/raise/validation/", {"name": "too long", "count": 0}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_input"
    assert body["fields"] == {
        "name": ["Ensure this field has no more than 5 characters."],
        "count": ["Ensure this value is greater than or equal to 1."],
    }
    assert body["details"] == (
        "name: Ensure this field has no more than 5 characters.; "
        "count: Ensure this value is greater than or equal to 1."
    )


def test_application_error_keeps_its_status_and_code(client):
    response = client.post("/api/test/raise/application/", {}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "error": "The price is now 12.99 USD.",
        "code": "price_changed",
        "details": "expected 10.00",
    }


def test_service_unavailable_carries_retry_after(client):
    response = client.post("/api/test/raise/unavailable/", {}, format="json")
    assert response.status_code == 503
    assert response["Retry-After"] == "17"
    assert response.json()["code"] == "providers_unavailable"


def test_provider_rejection_maps_to_502(client):
    response = client.post("/api/test/raise/provider/", {}, format="json")
    assert response.status_code == 502
    assert response.json() == {
        "error": "The eSIM provider rejected the request.",
        "code": "provider_rejected",
        "details": "airhub: bad credentials",
    }


def test_unexpected_error_is_generic_500_logged_with_request_id_and_rolled_back(client, caplog):
    with caplog.at_level(logging.ERROR, logger="pulse.exception_handlers"):
        response = client.post("/api/test/raise/crash/", {}, format="json", HTTP_X_REQUEST_ID="req-crash-1")
    assert response.status_code == 500
    assert response.json() == {
        "error": "Internal server error.",
        "code": "internal_error",
        "details": "An unexpected error occurred. Quote request id req-crash-1 when reporting it.",
    }
    assert "boom" not in response.content.decode()
    record = next(r for r in caplog.records if r.name == "pulse.exception_handlers")
    assert record.exc_info is not None
    assert record.request_id == "req-crash-1"
    assert not Group.objects.filter(name="written-before-crash").exists()


@override_settings(CORS_ALLOWED_ORIGINS=["http://localhost:3000"])
def test_cors_preflight_from_the_frontend_origin_is_allowed(client):
    response = client.options(
        "/api/esim/health/",
        HTTP_ORIGIN="http://localhost:3000",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "content-type" in response["Access-Control-Allow-Headers"]


def test_cors_rejects_other_origins(client):
    response = client.get("/api/esim/health/", HTTP_ORIGIN="https://evil.example")
    assert "Access-Control-Allow-Origin" not in response
