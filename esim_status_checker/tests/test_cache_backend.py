"""The Redis backend that keeps its client objects (skipped without a Redis server)."""

import os
import threading

import pytest

from esim_status_checker.cache import ReusingRedisCache

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def backend():
    cache = ReusingRedisCache(
        REDIS_URL, {"KEY_PREFIX": "test-backend", "OPTIONS": {"socket_connect_timeout": 0.5}}
    )
    try:
        cache.set("ping", 1, 5)
    except Exception as exc:  # any connection error means "no Redis here"
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    yield cache
    # Not cache.clear(): on Redis that flushes the whole database, which the multi-worker test uses.
    cache.delete_many(["ping", "a", "b", *[f"k{n}" for n in range(20)]])


def test_it_behaves_like_the_django_redis_cache(backend):
    backend.set("a", {"x": 1}, 30)
    assert backend.get("a") == {"x": 1}
    assert backend.add("a", 2, 30) is False
    assert backend.add("b", 2, 30) is True
    backend.delete("a")
    assert backend.get("a") is None


def test_one_client_object_serves_every_command_and_thread(backend):
    seen = set()

    def work():
        for n in range(20):
            backend.set(f"k{n}", n, 30)
            assert backend.get(f"k{n}") == n
        seen.add(id(backend._cache.get_client()))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(seen) == 1
    assert len(backend._cache._pools) == 1
