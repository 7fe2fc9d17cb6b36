"""The provider circuit breakers as the API sees them: sources, health and skipped calls."""

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from providers.sandbox import reset_default_world

pytestmark = [pytest.mark.django_db]

SEED = "8932042000010245583"  # TravelRoam


@pytest.fixture
def world():
    world = reset_default_world()
    yield world
    world.clear_faults()


def check():
    return APIClient().post("/api/esim/check/", {"iccid": SEED}, format="json")


def airhub_requests(world) -> int:
    return sum(world.stats()["requests"].get("airhub", {}).values())


@override_settings(PROVIDER_BREAKER_THRESHOLD=2, STATUS_CACHE_SECONDS=0, STATUS_NOT_FOUND_CACHE_SECONDS=0)
def test_a_failing_provider_is_skipped_once_its_breaker_opens(world):
    world.set_fault("airhub", "http_500")
    assert check().json()["sources"]["airhub"] == "error:unavailable"
    assert check().json()["sources"]["airhub"] == "error:unavailable"
    before = airhub_requests(world)
    body = check().json()
    assert body["sources"]["airhub"] == "error:circuit_open"
    assert body["api_provider"] == "TRAVELROAM"  # the answer still comes from the others
    assert airhub_requests(world) == before

    health = APIClient().get("/api/esim/health/").json()
    assert health["apis"]["airhub"] is False
    assert health["circuit_breakers"]["airhub"] == "open"
    assert health["status"] == "degraded"


@override_settings(PROVIDER_BREAKER_THRESHOLD=2, STATUS_CACHE_SECONDS=0, STATUS_NOT_FOUND_CACHE_SECONDS=0)
def test_not_found_answers_never_open_the_breaker(world):
    for _ in range(4):
        assert check().json()["sources"]["airhub"] == "not_found"
    assert APIClient().get("/api/esim/health/").json()["circuit_breakers"]["airhub"] == "closed"
