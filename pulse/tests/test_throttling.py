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
    assert codes == {403}  # no signature: refused, but never throttled


def test_an_empty_rate_switches_a_limit_off():
    client = APIClient()
    with rates(check=""):
        codes = {
            client.post("/api/esim/check/", {"iccid": SEED}, format="json").status_code for _ in range(5)
        }
    assert codes == {200}


# --- who the client is: X-Forwarded-For is the client's word unless trusted proxies wrote it --------

SPOOFED_BURST = [
    ("check", "post", "/api/esim/check/", {"iccid": SEED}),
    ("create", "post", "/api/esim/renewal/create/", {"iccid": "1"}),
    ("confirm", "post", "/api/esim/renewal/confirm-payment/", {"session_id": "sbx_cs_unknown"}),
    ("currency", "get", "/api/esim/currency/supported/", None),
]


def burst(method: str, path: str, body, headers: list[dict]) -> list[int]:
    client = APIClient()
    call = getattr(client, method)
    return [
        (
            call(path, body, format="json", **extra) if method == "post" else call(path, body, **extra)
        ).status_code
        for extra in headers
    ]


@pytest.mark.parametrize(("scope", "method", "path", "body"), SPOOFED_BURST)
def test_a_new_forwarded_for_per_request_does_not_escape_the_limit(settings, scope, method, path, body):
    settings.TRUSTED_PROXY_COUNT = 0  # the default: no proxy in front, the header is the client's own text
    spoofed = [{"HTTP_X_FORWARDED_FOR": f"10.9.{i}.{i}"} for i in range(6)]

    with rates(**{scope: "3/min"}):
        codes = burst(method, path, body, spoofed)

    assert codes[3:] == [429, 429, 429]


@pytest.mark.parametrize(("scope", "method", "path", "body"), SPOOFED_BURST)
def test_behind_one_proxy_only_the_address_it_appended_counts(settings, scope, method, path, body):
    settings.TRUSTED_PROXY_COUNT = 1
    # The client makes up a new left part each time; the proxy appends the real address.
    spoofed = [{"HTTP_X_FORWARDED_FOR": f"10.9.{i}.{i}, 203.0.113.7"} for i in range(4)]
    other = [{"HTTP_X_FORWARDED_FOR": "10.9.0.0, 203.0.113.8"}]

    with rates(**{scope: "3/min"}):
        codes = burst(method, path, body, spoofed + other)

    assert codes[3] == 429
    assert codes[4] != 429  # another client behind the same proxy has its own count


def test_behind_two_proxies_the_second_address_from_the_right_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    # client -> CDN (appends the client) -> load balancer (appends the CDN) -> app
    same_client = [{"HTTP_X_FORWARDED_FOR": f"10.9.{i}.{i}, 203.0.113.7, 192.0.2.{i}"} for i in range(3)]
    other_client = [{"HTTP_X_FORWARDED_FOR": "203.0.113.8, 192.0.2.1"}]

    with rates(check="2/min"):
        codes = burst("post", "/api/esim/check/", {"iccid": SEED}, same_client + other_client)

    assert codes == [200, 200, 429, 200]
