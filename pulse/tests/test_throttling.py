"""Per-IP rate limits per endpoint, shared through the cache; the webhook is never throttled."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

SEED = "8932042000010245583"


def rates(**overrides):
    base = {"check": "", "options": "", "create": "", "confirm": "", "currency": ""}
    return override_settings(THROTTLE_RATES={**base, **overrides})


def test_check_is_limited_per_client_ip_with_retry_after_and_the_error_body():
    client = APIClient()
    with rates(check="2/min"):
        codes = [
            client.post("/api/esim/check/", {"iccid": SEED}, format="json").status_code for _ in range(3)
        ]
        response = client.post("/api/esim/check/", {"iccid": SEED}, format="json")
        other_ip = client.post("/api/esim/check/", {"iccid": SEED}, format="json", REMOTE_ADDR="10.0.0.9")
    assert codes == [200, 200, 429]
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["code"] == "throttled"
    assert response.json()["error"] == "Too many requests."
    assert isinstance(response.json()["details"], str)
    assert other_ip.status_code == 200


@pytest.mark.parametrize(
    ("scope", "method", "path", "body"),
    [
        ("options", "get", "/api/esim/renewal/options/", {"iccid": SEED}),
        ("confirm", "post", "/api/esim/renewal/confirm-payment/", {"session_id": "sbx_cs_unknown"}),
        ("create", "post", "/api/esim/renewal/create/", {"iccid": "1"}),
        ("currency", "get", "/api/esim/currency/supported/", None),
    ],
)
def test_each_scope_has_its_own_limit(scope, method, path, body):
    client = APIClient()
    call = getattr(client, method)
    with rates(**{scope: "1/min"}):
        call(path, body, format="json") if method == "post" else call(path, body)
        second = call(path, body, format="json") if method == "post" else call(path, body)
        unrelated = client.get("/api/esim/health/")
    assert second.status_code == 429
    assert unrelated.status_code == 200


def test_the_webhook_is_exempt():
    client = APIClient()
    with rates(check="1/min", options="1/min", create="1/min", confirm="1/min", currency="1/min"):
        codes = {
            client.post("/api/esim/stripe/webhook/", data=b"{}", content_type="application/json").status_code
            for _ in range(5)
        }
    assert codes == {400}  # no signature: refused, but never throttled


def test_an_empty_rate_switches_a_limit_off():
    client = APIClient()
    with rates(check=""):
        codes = {
            client.post("/api/esim/check/", {"iccid": SEED}, format="json").status_code for _ in range(5)
        }
    assert codes == {200}
