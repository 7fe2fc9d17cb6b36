"""Provider fault matrix: every fault at every provider, over real HTTP to the simulators on 127.0.0.1.

For each provider x fault (docs/reliability.md, "Status check under provider faults"):
- a check of an eSIM that ANOTHER provider owns answers 200 within the deadline, and `sources`
  names the faulty provider's outcome with its stable code (providers/errors.py);
- a check of an eSIM the FAULTY provider owns answers 503 `providers_unavailable` with Retry-After
  (the others say "not found", so nobody can give an answer);
- with every provider faulty the answer is 503 with Retry-After, also within the deadline.
A 401 in the middle of a session costs one fresh login and the check still answers.

Faults apply from the first request ("cold": no token, no index), so login faults count too; the
`status_false_after_login` row targets only the data calls, after a good login.
"""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from tests.reliability.helpers import (
    ANSWER_BOUND,
    OWNED_BY,
    OWNED_BY_ANOTHER,
    OWNER_OF,
    PROVIDERS,
    SEED_ICCID,
    STATUS_DEADLINE,
    simulators_over_http,
    timed_check,
)

pytestmark = pytest.mark.django_db

RETRY_AFTER_429 = 45  # above the 30 s floor of an all-down answer, so the provider's value must win
DEFAULT_RETRY_AFTER = 30  # pulse.services.status.ALL_DOWN_RETRY_AFTER
SLOW_DELAY = 3 * STATUS_DEADLINE
# The calls that read eSIM data (not the login), per provider.
DATA_PATH = {"airhub": "GetOrderDetail", "esimcard": "my-esims", "travelroam": "esims/details"}

# fault id -> (sandbox mode, options); options may name a per-provider path filter.
FAULTS: dict[str, tuple[str, dict]] = {
    "timeout": ("timeout", {}),  # the answer is held 30 s: the client's read timeout fires
    "connection_refused": ("connection_refused", {}),
    "http_500": ("http_500", {}),
    "http_429": ("http_429", {"retry_after": RETRY_AFTER_429}),
    "malformed_json": ("malformed_json", {}),
    "status_false": ("status_false", {}),  # HTTP 200 + status:false / isSuccess:false, login included
    "status_false_after_login": ("status_false", {"path_contains": DATA_PATH}),
    "rejected": ("rejected", {}),
    # Three times slower than the deadline, with a read timeout longer than the deadline: the fan-out
    # deadline (not the HTTP timeout) is what cuts the provider off.
    "slow": ("slow", {"delay_s": SLOW_DELAY}),
}

# What `sources[<faulty provider>]` says. Logins answer 200 + a failure body with auth_failed;
# TravelRoam has no login, and its "status false" is an empty 200 body, which it cannot read.
EXPECTED_SOURCE: dict[str, dict[str, str]] = {
    "timeout": dict.fromkeys(PROVIDERS, "error:timeout"),
    "connection_refused": dict.fromkeys(PROVIDERS, "error:unavailable"),
    "http_500": dict.fromkeys(PROVIDERS, "error:unavailable"),
    "http_429": dict.fromkeys(PROVIDERS, "error:unavailable"),
    "malformed_json": dict.fromkeys(PROVIDERS, "error:invalid_response"),
    "status_false": {
        "airhub": "error:auth_failed",
        "esimcard": "error:auth_failed",
        "travelroam": "error:invalid_response",
    },
    "status_false_after_login": {
        "airhub": "error:rejected",
        "esimcard": "error:rejected",
        "travelroam": "error:invalid_response",
    },
    "rejected": {
        "airhub": "error:auth_failed",
        "esimcard": "error:auth_failed",
        "travelroam": "error:rejected",
    },
    "slow": dict.fromkeys(PROVIDERS, "error:timeout"),
}
# ...but once the owner answered, a provider still searching (no stored reference) is not waited for.
PENDING_WHEN_FOUND = {"slow"}


SLOW_READ_TIMEOUT = STATUS_DEADLINE + 0.5  # past the deadline, well before the slow reply


def overrides_for(fault: str) -> dict:
    # Only the "slow" row needs a read timeout past the deadline (and past it only: the reply comes later).
    return {"PROVIDER_TIMEOUT": SLOW_READ_TIMEOUT} if fault == "slow" else {}


@pytest.fixture(autouse=True, scope="module")
def _cut_off_calls_end_before_the_session_does():
    """Provider calls cut off by the deadline end on their own read timeout a little later (that is the
    design). They only log and count a breaker failure; wait for them once, so none logs into a
    closed stream after the last test."""
    yield
    time.sleep(SLOW_READ_TIMEOUT + 0.5)


def inject(world, provider: str, fault: str) -> None:
    mode, options = FAULTS[fault]
    options = dict(options)
    if isinstance(options.get("path_contains"), dict):
        options["path_contains"] = options["path_contains"][provider]
    world.set_fault(provider, mode, **options)


def expected_retry_after(fault: str) -> int:
    return RETRY_AFTER_429 if fault == "http_429" else DEFAULT_RETRY_AFTER


def sources_for(iccid: str, faulty: dict[str, str]) -> dict[str, str]:
    """The full `sources` map: the owner found it, the healthy others did not, the faulty said why."""
    owner = OWNER_OF.get(iccid)
    expected = {name: "found" if name == owner else "not_found" for name in PROVIDERS}
    expected.update(faulty)
    return expected


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_faulty_provider_never_holds_or_spoils_the_answer_of_another(provider, fault):
    iccid = OWNED_BY_ANOTHER[provider]
    with simulators_over_http(**overrides_for(fault)) as (world, _):
        inject(world, provider, fault)
        response, seconds = timed_check(iccid)

    assert response.status_code == 200, response.json()
    body = response.json()
    assert seconds < ANSWER_BOUND, f"answered in {seconds:.2f}s"
    assert body["api_provider"] == OWNER_OF[iccid].upper()
    expected = "error:pending" if fault in PENDING_WHEN_FOUND else EXPECTED_SOURCE[fault][provider]
    assert body["sources"] == sources_for(iccid, {provider: expected})
    assert body["cached"] is False


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("provider", PROVIDERS)
def test_when_the_owner_is_down_the_answer_is_503_with_retry_after(provider, fault):
    with simulators_over_http(**overrides_for(fault)) as (world, _):
        inject(world, provider, fault)
        response, seconds = timed_check(OWNED_BY[provider])

    assert seconds < ANSWER_BOUND, f"answered in {seconds:.2f}s"
    assert response.status_code == 503
    assert response["Retry-After"] == str(expected_retry_after(fault))
    body = response.json()
    assert set(body) == {"error", "code", "details"}
    assert body["code"] == "providers_unavailable"
    outcomes = sources_for("", {provider: EXPECTED_SOURCE[fault][provider]})
    assert (
        body["details"] == "Provider outcomes: " + ", ".join(f"{n}: {s}" for n, s in outcomes.items()) + "."
    )


@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_provider_down_is_503_with_retry_after_within_the_deadline(fault):
    with simulators_over_http(**overrides_for(fault)) as (world, _):
        for provider in PROVIDERS:
            inject(world, provider, fault)
        response, seconds = timed_check(SEED_ICCID)

    assert seconds < ANSWER_BOUND, f"answered in {seconds:.2f}s"
    assert response.status_code == 503
    assert response["Retry-After"] == str(expected_retry_after(fault))
    assert response.json()["code"] == "providers_unavailable"
    for provider in PROVIDERS:
        assert f"{provider}: {EXPECTED_SOURCE[fault][provider]}" in response.json()["details"]


def test_different_faults_at_once_give_the_longest_retry_after():
    with simulators_over_http() as (world, _):
        world.set_fault("airhub", "timeout")
        world.set_fault("esimcard", "http_429", retry_after=90)
        world.set_fault("travelroam", "connection_refused")
        response, seconds = timed_check(SEED_ICCID)

    assert seconds < ANSWER_BOUND
    assert (response.status_code, response["Retry-After"]) == (503, "90")
    assert response.json()["details"] == (
        "Provider outcomes: airhub: error:timeout, esimcard: error:unavailable, travelroam: error:unavailable."
    )


@pytest.mark.parametrize("provider", ["airhub", "esimcard"])
def test_a_token_that_expires_mid_session_costs_one_login_and_the_checks_still_answer(provider):
    client = APIClient()
    with simulators_over_http() as (world, _):
        # The session: a login, and the eSIM's reference remembered.
        assert timed_check(OWNED_BY[provider], client)[0].status_code == 200
        assert world.stats()["logins"][provider] == 1
        world.set_fault(provider, "token_expired")  # the provider forgets every token it issued
        other, other_seconds = timed_check(OWNED_BY_ANOTHER[provider], client)
        own, own_seconds = timed_check(OWNED_BY[provider], client)
        logins = world.stats()["logins"][provider]

    assert (other.status_code, own.status_code) == (200, 200)
    assert max(other_seconds, own_seconds) < ANSWER_BOUND
    assert other.json()["sources"] == sources_for(OWNED_BY_ANOTHER[provider], {})
    assert own.json()["sources"] == sources_for(OWNED_BY[provider], {})
    assert logins == 2  # exactly one fresh login, shared by both checks


def test_travelroam_has_no_token_so_a_refused_key_is_auth_failed_not_retried():
    # TravelRoam sends a static API key on every call: a 401 cannot be cured by logging in again.
    with simulators_over_http() as (world, _):
        world.set_fault("travelroam", "token_expired", path_contains="esims/details", times=2)
        other, _ = timed_check(OWNED_BY_ANOTHER["travelroam"])
        own, _ = timed_check(OWNED_BY["travelroam"])

    assert other.status_code == 200
    assert other.json()["sources"] == sources_for(
        OWNED_BY_ANOTHER["travelroam"], {"travelroam": "error:auth_failed"}
    )
    assert own.status_code == 503
    assert "travelroam: error:auth_failed" in own.json()["details"]


def test_an_open_breaker_skips_the_provider_at_once_and_says_so():
    # Breakers are tested on their own elsewhere; here: an open one is just another `sources` outcome.
    with simulators_over_http(PROVIDER_BREAKER_THRESHOLD=2, PROVIDER_BREAKER_COOLDOWN=60) as (world, _):
        world.set_fault("esimcard", "http_500")
        first = [timed_check(OWNED_BY_ANOTHER["esimcard"])[0] for _ in range(2)]
        requests_before = sum(world.stats()["requests"]["esimcard"].values())
        skipped, seconds = timed_check(OWNED_BY_ANOTHER["esimcard"])
        requests_after = sum(world.stats()["requests"]["esimcard"].values())

    assert [r.json()["sources"]["esimcard"] for r in first] == ["error:unavailable"] * 2
    assert skipped.status_code == 200
    assert skipped.json()["sources"]["esimcard"] == "error:circuit_open"
    assert requests_after == requests_before
    assert seconds < ANSWER_BOUND
