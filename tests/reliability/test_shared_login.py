"""One login for all workers, even when they all need a token at once (providers/tokens.py).

Each TokenStore here stands for one gunicorn worker: its own process-local lock, one shared cache.
The multi-worker test shows the same against real processes and Redis; these show the two races.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from providers.cache import MemoryCache
from providers.tokens import TokenStore

KEY = "provider:test:login:abc"


class CountingLogin:
    def __init__(self, delay: threading.Event | None = None) -> None:
        self.calls = 0
        self._lock = threading.Lock()
        self._delay = delay

    def __call__(self) -> str:
        with self._lock:
            self.calls += 1
            number = self.calls
        if self._delay is not None:
            self._delay.wait(5)
        return f"token-{number}"


def test_workers_that_need_a_token_at_once_share_one_login():
    cache = MemoryCache()
    release = threading.Event()
    login = CountingLogin(delay=release)
    workers = [TokenStore(cache, KEY, login) for _ in range(4)]
    start = threading.Barrier(len(workers))

    def get(store: TokenStore) -> str:
        start.wait()
        return store.get()

    with ThreadPoolExecutor(len(workers)) as pool:
        futures = [pool.submit(get, store) for store in workers]
        threading.Timer(0.3, release.set).start()  # the login is slow: the others must wait for it
        tokens = [future.result(timeout=10) for future in futures]

    assert login.calls == 1
    assert tokens == ["token-1"] * len(workers)


class AnotherWorkerFinishesFirst(MemoryCache):
    """A cache in which, just before one worker takes the login lock, another completes its login."""

    def __init__(self) -> None:
        super().__init__()
        self.before_add = None

    def add(self, key, value, timeout=None):
        if self.before_add is not None:
            hook, self.before_add = self.before_add, None
            hook()
        return super().add(key, value, timeout)


def test_a_login_finished_elsewhere_just_before_taking_the_lock_is_reused():
    cache = AnotherWorkerFinishesFirst()
    login = CountingLogin()
    first, second = TokenStore(cache, KEY, login), TokenStore(cache, KEY, login)
    cache.before_add = first.get  # `second` looked (no token), then `first` logged in and let go

    assert second.get() == "token-1"
    assert login.calls == 1


def test_a_refused_token_is_replaced_once_for_everyone():
    cache = MemoryCache()
    login = CountingLogin()
    workers = [TokenStore(cache, KEY, login) for _ in range(3)]
    old = workers[0].get()

    fresh = [store.refresh(old) for store in workers]  # each worker saw the same 401

    assert fresh == ["token-2"] * 3
    assert login.calls == 2
