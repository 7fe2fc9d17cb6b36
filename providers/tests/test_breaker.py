import pytest

from providers.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, GuardedClient
from providers.cache import MemoryCache
from providers.errors import CircuitOpen, ProviderNotFound, ProviderTimeout, ProviderUnavailable
from providers.tests.fakes import FakeProvider


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cache():
    return MemoryCache()


def breaker(cache, clock, **kw):
    return CircuitBreaker("airhub", cache, threshold=3, cooldown=30, clock=clock, **kw)


def fail(b):
    with pytest.raises(ProviderUnavailable):
        b.call(lambda: (_ for _ in ()).throw(ProviderTimeout("airhub", "slow")))


def test_opens_after_threshold_consecutive_failures(cache, clock):
    b = breaker(cache, clock)
    fail(b)
    fail(b)
    assert b.state() == CLOSED
    fail(b)
    assert b.state() == OPEN
    with pytest.raises(CircuitOpen) as skipped:
        b.call(lambda: "not called")
    assert skipped.value.code == "circuit_open"
    assert skipped.value.retry_after == pytest.approx(30)


def test_an_answer_resets_the_count(cache, clock):
    b = breaker(cache, clock)
    fail(b)
    fail(b)
    with pytest.raises(ProviderNotFound):
        b.call(lambda: (_ for _ in ()).throw(ProviderNotFound("airhub", "unknown")))
    fail(b)
    fail(b)
    assert b.state() == CLOSED


def test_half_opens_after_cooldown_and_lets_exactly_one_trial_through(cache, clock):
    b = breaker(cache, clock)
    for _ in range(3):
        fail(b)
    clock.now += 31
    assert b.state() == HALF_OPEN
    b.before_call()  # the trial
    with pytest.raises(CircuitOpen):
        b.before_call()  # everyone else (any worker sharing the cache) keeps skipping


def test_successful_trial_closes(cache, clock):
    b = breaker(cache, clock)
    for _ in range(3):
        fail(b)
    clock.now += 31
    assert b.call(lambda: "ok") == "ok"
    assert b.state() == CLOSED
    assert b.failures() == 0


def test_failed_trial_opens_again_for_a_full_cooldown(cache, clock):
    b = breaker(cache, clock)
    for _ in range(3):
        fail(b)
    clock.now += 31
    fail(b)
    assert b.state() == OPEN
    clock.now += 29
    assert b.state() == OPEN


def test_state_is_shared_by_every_breaker_on_the_same_cache(cache, clock):
    worker_a, worker_b = breaker(cache, clock), breaker(cache, clock)
    for _ in range(3):
        fail(worker_a)
    assert worker_b.state() == OPEN


def test_guarded_client_skips_the_provider_while_open(cache, clock):
    fake = FakeProvider("airhub")
    fake.behaviour = ProviderUnavailable("airhub", "HTTP 503")
    guarded = GuardedClient(fake, breaker(cache, clock))
    for _ in range(3):
        with pytest.raises(ProviderUnavailable):
            guarded.lookup("8944000000000000100")
    with pytest.raises(CircuitOpen):
        guarded.lookup("8944000000000000100")
    assert len(fake.calls) == 3


def test_probe_bypasses_an_open_breaker_and_closes_it_on_success(cache, clock):
    fake = FakeProvider("airhub")
    b = breaker(cache, clock)
    for _ in range(3):
        fail(b)
    GuardedClient(fake, b).probe()
    assert b.state() == CLOSED


class CountingCache(MemoryCache):
    def __init__(self):
        super().__init__()
        self.ops = []

    def get(self, key, default=None):
        self.ops.append(("get", key))
        return super().get(key, default)

    def set(self, key, value, timeout=None):
        self.ops.append(("set", key))
        super().set(key, value, timeout)

    def delete(self, key):
        self.ops.append(("delete", key))
        super().delete(key)


def test_a_healthy_call_costs_one_cache_read_and_no_write(clock):
    cache = CountingCache()
    assert breaker(cache, clock).call(lambda: "ok") == "ok"
    assert cache.ops == [("get", "breaker:airhub")]


def test_a_state_the_caller_read_is_used_as_read_and_not_read_again(clock):
    cache = CountingCache()
    b = breaker(cache, clock)
    for _ in range(3):
        fail(b)
    opened = CircuitBreaker.entry_of(cache.get(b.state_key))
    assert opened["open_until"] == pytest.approx(1030)
    cache.ops.clear()

    with pytest.raises(CircuitOpen):  # the open state handed in skips the call, as a read one does
        b.call(lambda: "not called", seen=opened)
    assert b.call(lambda: "called", seen=None) == "called"  # None: the caller saw a healthy provider
    assert ("get", "breaker:airhub") not in cache.ops
    assert CircuitBreaker.entry_of("not a state") is None
