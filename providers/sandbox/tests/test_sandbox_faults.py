"""Fault injection over both transports: every mode, ``times`` counting, path filters and the control API."""

from __future__ import annotations

import time

import pytest
import requests

from providers.sandbox import DEMO_ICCIDS
from providers.sandbox.faults import FaultError
from providers.sandbox.tests.helpers import PARTNER, Sandbox

DETAILS = {"iccid": DEMO_ICCIDS["travelroam_expired_turkey"]}


def test_timeout_fires_the_client_read_timeout_quickly(sandbox: Sandbox):
    sandbox.world.set_fault("travelroam", "timeout", delay_s=1)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        sandbox.travelroam("/esims/details", DETAILS, timeout=0.2)
    assert time.monotonic() - started < 0.9  # waited ~the client timeout, not the whole delay


def test_timed_out_top_up_still_happened(sandbox: Sandbox):
    """The provider did the work but answered late: a reconciler must find the top-up."""
    sandbox.world.set_fault("travelroam", "timeout", delay_s=1, times=1, path_contains="/processorders")
    body = {"bundleName": "esim_1GB_7D_TR_V2", "orderType": "COUNTRY", "iccid": DETAILS["iccid"]}
    with pytest.raises(requests.exceptions.ReadTimeout):
        sandbox.travelroam("/processorders", body, timeout=0.2)
    assert len(sandbox.world.topups("travelroam")) == 1


def test_slow_answers_normally_after_the_delay(sandbox: Sandbox):
    sandbox.esimcard_login()
    sandbox.world.set_fault("esimcard", "slow", delay_s=0.3)
    started = time.monotonic()
    response = sandbox.esimcard("GET", "/balance", timeout=3)
    assert response.json()["status"] is True
    assert time.monotonic() - started >= 0.3


def test_connection_refused(sandbox: Sandbox):
    sandbox.world.set_fault("airhub", "connection_refused")
    with pytest.raises(requests.exceptions.ConnectionError):
        sandbox.airhub_login()


def test_http_500_then_normal_after_times(sandbox: Sandbox):
    sandbox.world.set_fault("travelroam", "http_500", times=2)
    statuses = [sandbox.travelroam("/esims/details", DETAILS).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert sandbox.world.faults() == []


def test_http_429_carries_retry_after(sandbox: Sandbox):
    sandbox.world.set_fault("esimcard", "http_429", retry_after=11, path_contains="/my-esims")
    response = sandbox.esimcard("GET", "/my-esims")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "11"
    assert sandbox.esimcard("GET", "/balance").status_code == 200  # other paths unaffected


def test_token_expired_gives_one_401_then_relogin_works(sandbox: Sandbox):
    token = sandbox.esimcard_login()
    sandbox.world.set_fault("esimcard", "token_expired")
    response = sandbox.esimcard("GET", "/my-esims", token=token)
    assert (response.status_code, response.json()) == (401, {"message": "Unauthenticated."})
    assert sandbox.esimcard("GET", "/my-esims", token=sandbox.esimcard_login()).status_code == 200
    assert sandbox.world.stats()["logins"]["esimcard"] == 2


def test_token_expired_at_airhub(sandbox: Sandbox):
    token = sandbox.airhub_login()
    sandbox.world.set_fault("airhub", "token_expired")
    body = {"partnerCode": PARTNER, "flag": "1"}
    assert sandbox.airhub("/api/ESIM/GetOrderDetail", body, token=token).status_code == 401
    fresh = sandbox.airhub_login()
    assert sandbox.airhub("/api/ESIM/GetOrderDetail", body, token=fresh).status_code == 200


def test_token_expired_at_travelroam_is_one_403(sandbox: Sandbox):
    sandbox.world.set_fault("travelroam", "token_expired")
    assert sandbox.travelroam("/esims/details", DETAILS).status_code == 403
    assert sandbox.travelroam("/esims/details", DETAILS).status_code == 200


def test_malformed_json(sandbox: Sandbox):
    sandbox.world.set_fault("currencyfreaks", "malformed_json", times=1)
    response = sandbox.rates()
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert sandbox.rates().json()["base"] == "USD"


@pytest.mark.parametrize(
    ("provider", "expected"),
    [
        ("esimcard", {"status": False, "message": "Service temporarily unavailable"}),
        ("travelroam", {}),
        ("currencyfreaks", {}),
    ],
)
def test_status_false(sandbox: Sandbox, provider: str, expected: dict):
    calls = {
        "esimcard": lambda: sandbox.esimcard("GET", "/my-esims"),
        "travelroam": lambda: sandbox.travelroam("/esims/details", DETAILS),
        "currencyfreaks": sandbox.rates,
    }
    sandbox.esimcard_login()  # faults apply to logins too: log in first
    sandbox.world.set_fault(provider, "status_false")
    response = calls[provider]()
    assert (response.status_code, response.json()) == (200, expected)


def test_status_false_at_airhub(sandbox: Sandbox):
    sandbox.airhub_login()
    sandbox.world.set_fault("airhub", "status_false")
    payload = sandbox.airhub("/api/ESIM/GetOrderDetail", {"partnerCode": PARTNER, "flag": "1"}).json()
    assert payload["isSuccess"] is False
    assert payload["message"]


@pytest.mark.parametrize(
    ("provider", "status", "expected"),
    [
        ("travelroam", 422, {"message": "Order rejected by the provider (sandbox fault)"}),
        (
            "esimcard",
            200,
            {"status": False, "message": "This package cannot be purchased right now (sandbox fault)"},
        ),
    ],
)
def test_rejected_is_a_definite_refusal(sandbox: Sandbox, provider: str, status: int, expected: dict):
    calls = {
        "esimcard": lambda: sandbox.esimcard("GET", "/my-esims"),
        "travelroam": lambda: sandbox.travelroam("/esims/details", DETAILS),
    }
    sandbox.esimcard_login()
    sandbox.world.set_fault(provider, "rejected")
    response = calls[provider]()
    assert (response.status_code, response.json()) == (status, expected)


def test_rejected_at_airhub(sandbox: Sandbox):
    sandbox.airhub_login()
    sandbox.world.set_fault("airhub", "rejected")
    payload = sandbox.airhub("/api/ESIM/GetOrderDetail", {"partnerCode": PARTNER, "flag": "1"}).json()
    assert payload == {
        "isSuccess": False,
        "message": "Renewal rejected by the provider (sandbox fault)",
    }


def test_clear_faults_per_provider(sandbox: Sandbox):
    sandbox.world.set_fault("travelroam", "http_500")
    sandbox.world.set_fault("currencyfreaks", "http_500")
    sandbox.world.clear_faults("travelroam")
    assert sandbox.travelroam("/esims/details", DETAILS).status_code == 200
    assert sandbox.rates().status_code == 500
    sandbox.world.clear_faults()
    assert sandbox.rates().status_code == 200


def test_latency_is_honoured_against_the_client_timeout(sandbox: Sandbox):
    sandbox.world.set_latency(300)
    with pytest.raises(requests.exceptions.ReadTimeout):
        sandbox.rates(timeout=0.1)
    assert sandbox.rates(timeout=2).status_code == 200


def test_invalid_fault_is_rejected(sandbox: Sandbox):
    with pytest.raises(FaultError):
        sandbox.world.set_fault("airhub", "explode")
    with pytest.raises(FaultError):
        sandbox.world.set_fault("nobody", "http_500")


def test_control_api(sandbox: Sandbox):
    control = sandbox.urls["airhub"].rsplit("/", 1)[0] + "/_control"
    created = sandbox.session.post(
        f"{control}/faults",
        json={
            "provider": "travelroam",
            "mode": "http_429",
            "times": 1,
            "retry_after": 3,
            "paths": "/details",
        },
        timeout=5,
    )
    assert created.status_code == 201
    assert sandbox.travelroam("/esims/details", DETAILS).headers["Retry-After"] == "3"
    sandbox.session.post(f"{control}/faults", json={"provider": "travelroam", "mode": "http_500"}, timeout=5)
    assert sandbox.session.delete(f"{control}/faults", timeout=5).json() == {"faults": []}
    assert sandbox.session.post(f"{control}/latency", json={"ms": 5}, timeout=5).json() == {"ms": 5}
    stats = sandbox.session.get(f"{control}/stats", timeout=5).json()
    assert stats["requests"]["travelroam"]["/esims/details"] == 1
    assert stats["latency_ms"] == 5
    assert set(stats) >= {"logins", "requests", "topups", "latency_ms"}
    bad = sandbox.session.post(f"{control}/faults", json={"provider": "x", "mode": "y"}, timeout=5)
    assert bad.status_code == 400
    assert sandbox.session.post(f"{control}/reset", timeout=5).json() == {"reset": True}
    assert sandbox.session.get(f"{control}/stats", timeout=5).json()["requests"]["travelroam"] == {}


def test_control_api_drains_and_refills_a_wallet(sandbox: Sandbox):
    control = sandbox.urls["airhub"].rsplit("/", 1)[0] + "/_control"
    assert sandbox.session.get(f"{control}/wallets", timeout=5).json() == {
        "wallets": {"airhub": "100.00", "esimcard": "100.00", "travelroam": "100.00"}
    }
    drained = sandbox.session.post(
        f"{control}/wallets", json={"provider": "travelroam", "balance": 0}, timeout=5
    )
    assert drained.json()["wallets"]["travelroam"] == "0.00"
    order = sandbox.travelroam(
        "/processorders", {"bundleName": "esim_1GB_7D_TR_V2", "iccid": DETAILS["iccid"]}
    )
    assert (order.status_code, order.json()) == (
        422,
        {"message": "Insufficient balance to complete the order"},
    )
    assert sandbox.world.topups() == []

    sandbox.session.post(f"{control}/wallets", json={"provider": "travelroam", "balance": "10"}, timeout=5)
    assert sandbox.travelroam(
        "/processorders", {"bundleName": "esim_1GB_7D_TR_V2", "iccid": DETAILS["iccid"]}
    ).ok
    assert sandbox.world.wallets()["travelroam"] == "8.77"  # 10.00 - 1.23
    for body in (
        {"provider": "nobody", "balance": 1},
        {"provider": "airhub", "balance": -1},
        {"provider": "airhub"},
    ):
        assert sandbox.session.post(f"{control}/wallets", json=body, timeout=5).status_code == 400
    for body in ({"provider": "airhub", "balance": "lots"},):
        assert sandbox.session.post(f"{control}/wallets", json=body, timeout=5).status_code == 400
