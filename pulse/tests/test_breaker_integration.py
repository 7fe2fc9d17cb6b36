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


@override_settings(STATUS_CACHE_SECONDS=0)
def test_a_check_reads_the_breaker_states_with_the_route_in_one_round_trip(world, monkeypatch):
    from pulse.services.safe_cache import safe_cache

    assert check().status_code == 200  # the route is stored
    single, many = [], []
    real_get, real_get_many = safe_cache.get, safe_cache.get_many
    monkeypatch.setattr(safe_cache, "get", lambda key, *a: single.append(key) or real_get(key, *a))
    monkeypatch.setattr(safe_cache, "get_many", lambda keys: many.append(keys) or real_get_many(keys))

    assert check().json()["api_provider"] == "TRAVELROAM"

    assert not [key for key in single if key.startswith(("breaker:", "status:route:"))]
    assert len(many) == 1
    assert sorted(many[0]) == sorted(
        [f"status:route:v1:{SEED}", "breaker:airhub", "breaker:esimcard", "breaker:travelroam"]
    )
