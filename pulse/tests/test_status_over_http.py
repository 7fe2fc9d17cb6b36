"""End to end: the real clients talk to the simulators over real HTTP on 127.0.0.1 (no sandbox routing)."""

import pytest
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from pulse.tests.http_sandbox_helpers import http_sandbox

pytestmark = pytest.mark.django_db

SEED = "8932042000010245583"


def check(iccid):
    return APIClient().post("/api/esim/check/", {"iccid": iccid}, format="json")


def test_seed_esim_over_http_matches_the_documented_answer():
    with http_sandbox():
        response = check(SEED)
    assert response.status_code == 200
    body = response.json()
    assert {
        key: body[key]
        for key in ("status", "plan_name", "api_provider", "data_capacity", "data_remaining", "validity")
    } == {
        "status": "Expired",
        "plan_name": "eSIM, 1GB, 7 Days, Turkey, V2",
        "api_provider": "TRAVELROAM",
        "data_capacity": "1.00 GB",
        "data_remaining": "0.00 GB",
        "validity": "7 days",
    }
    assert body["sources"] == {"airhub": "not_found", "esimcard": "not_found", "travelroam": "found"}


@override_settings(STATUS_CACHE_SECONDS=0, STATUS_NOT_FOUND_CACHE_SECONDS=0)
def test_each_provider_sees_one_login_per_token_lifetime_not_one_per_check():
    iccids = ["8944000000000000100", "8944000000000000209", "8944000000000000506", SEED]
    with http_sandbox() as (world, _):
        for _ in range(5):
            for iccid in iccids:
                assert check(iccid).status_code == 200
        logins = world.stats()["logins"]
    assert logins == {"airhub": 1, "esimcard": 1}


def test_an_expired_token_means_one_new_login_and_the_check_still_answers():
    with http_sandbox() as (world, _):
        assert check("8944000000000000100").status_code == 200
        world.set_fault("airhub", "token_expired")
        cache.delete("status:v1:8944000000000000209")
        response = check("8944000000000000209")
        logins = world.stats()["logins"]
    assert response.status_code == 200
    assert response.json()["sources"]["airhub"] == "not_found"
    assert logins["airhub"] == 2


def test_every_demo_case_over_http():
    expected = {
        "8944000000000000100": ("AIRHUB", "Active"),
        "8944000000000000209": ("ESIMCARD", "Active"),
        "8944000000000000308": ("TRAVELROAM", "Depleted"),
        "8944000000000000407": ("ESIMCARD", "Active"),
        "8944000000000000506": ("TRAVELROAM", "Active"),
        "8944000000000000704": ("AIRHUB", "Not Active"),
        "8944000000000000803": ("TRAVELROAM", "Not Active"),
        "8944000000000000902": ("ESIMCARD", "Revoked"),
    }
    with http_sandbox():
        answers = {iccid: check(iccid).json() for iccid in expected}
        unknown = check("8944000000000000605")
    assert {iccid: (a["api_provider"], a["status"]) for iccid, a in answers.items()} == expected
    assert answers["8944000000000000407"]["data_capacity"] == "Unlimited"
    assert answers["8944000000000000506"]["sources"]["airhub"] == "found"
    assert unknown.status_code == 404


def test_esimcard_demo_esims_answer_the_country_their_plan_covers():
    # eSIMCard's eSIM answers carry no country field: the check must read it from the package name,
    # as renewal options already do, so check and options agree (issue 11, item 11).
    expected = {"8944000000000000209": "FR", "8944000000000000407": "IT", "8944000000000000902": "FR"}
    with http_sandbox():
        checked = {iccid: check(iccid).json()["country_code"] for iccid in expected}
        options = APIClient().get(
            "/api/esim/renewal/options/", {"iccid": "8944000000000000209", "currency": "USD"}
        )
    assert checked == expected
    assert options.json()["current_plan"]["country_code"] == "FR"
