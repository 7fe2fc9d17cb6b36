"""The eSIMCard ICCID index: one walk for every worker, one walk per lifetime, cheap proofs of absence."""

from __future__ import annotations

import threading
import time

import pytest

from providers import concurrency
from providers.cache import MemoryCache
from providers.errors import ProviderNotFound
from providers.esimcard_index import CardIndex, ListPage
from providers.observe import index_walks

PER_PAGE = 20


class FakeAccount:
    """An eSIMCard account's `GET /my-esims`, newest first, counting the pages read."""

    def __init__(self, count: int, *, delay: float = 0.0) -> None:
        self.iccids = [f"89000000000{n:08d}" for n in range(count)]
        self.delay = delay
        self.reads: list[int] = []
        self._lock = threading.Lock()

    def add(self, iccid: str) -> None:
        self.iccids.insert(0, iccid)

    def page(self, number: int) -> ListPage:
        with self._lock:
            self.reads.append(number)
        time.sleep(self.delay)
        last = max(1, -(-len(self.iccids) // PER_PAGE))
        chunk = self.iccids[(number - 1) * PER_PAGE : number * PER_PAGE]
        items = [
            {"id": f"uuid-{iccid}", "iccid": iccid, "created_at": "2025-06-16T11:38:46Z"} for iccid in chunk
        ]
        return ListPage(items, last, len(self.iccids))

    def walk(self, first: ListPage) -> list:
        return first.items + [item for n in range(2, first.last_page + 1) for item in self.page(n).items]

    def full_walks(self) -> int:
        return self.reads.count(2) if len(self.iccids) > PER_PAGE else self.reads.count(1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make_index(cache, account, clock, **kwargs) -> CardIndex:
    """A new CardIndex on the same cache stands for another worker process (its own local locks)."""
    kwargs.setdefault("max_age", 3600.0)
    kwargs.setdefault("head_every", 5.0)
    return CardIndex(cache, "idx", read_page=account.page, walk=account.walk, clock=clock, **kwargs)


@pytest.fixture
def cache():
    return MemoryCache()


@pytest.fixture
def clock():
    return Clock()


def test_concurrent_lookups_in_several_workers_share_one_walk(cache, clock):
    account = FakeAccount(200, delay=0.02)  # 10 pages
    workers = [make_index(cache, account, clock) for _ in range(3)]
    results, errors = [], []

    def look(index: CardIndex, iccid: str) -> None:
        try:
            results.append(index.entry(iccid)[0])
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=look, args=(workers[i % 3], account.iccids[i * 7])) for i in range(9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert not errors
    assert sorted(results) == sorted(f"uuid-{account.iccids[i * 7]}" for i in range(9))
    assert account.reads.count(1) == 1
    assert account.full_walks() == 1


def test_misses_within_the_head_interval_cost_no_page(cache, clock):
    account = FakeAccount(100)
    index = make_index(cache, account, clock)

    for _ in range(3):
        with pytest.raises(ProviderNotFound):
            index.entry("8900000000000000994")

    assert account.reads == [1, 2, 3, 4, 5]  # the one walk that built the index


def test_a_miss_after_the_head_interval_reads_both_ends_of_the_list_not_every_page(cache, clock):
    account = FakeAccount(100)
    index = make_index(cache, account, clock)
    index.entry(account.iccids[50])
    account.reads.clear()
    clock.now += 6

    with pytest.raises(ProviderNotFound) as caught:
        index.entry("8900000000000000994")

    assert sorted(account.reads) == [1, 5]
    assert caught.value.as_of.timestamp() == clock.now


def test_an_esim_bought_after_the_walk_is_found_on_the_first_page_without_a_walk(cache, clock):
    account = FakeAccount(99)  # five pages before and after the purchase
    index = make_index(cache, account, clock)
    index.entry(account.iccids[0])
    account.add("8900000000000000994")
    account.reads.clear()
    clock.now += 6

    assert index.entry("8900000000000000994")[0] == "uuid-8900000000000000994"
    assert sorted(account.reads) == [1, 5]
    # Another worker sees the new eSIM too, without any page.
    account.reads.clear()
    assert make_index(cache, account, clock).entry("8900000000000000994")[0] == "uuid-8900000000000000994"
    assert account.reads == []


def test_more_new_esims_than_the_ends_show_replace_the_index_with_one_walk(cache, clock):
    account = FakeAccount(100)
    index = make_index(cache, account, clock)
    index.entry(account.iccids[0])
    for n in range(45):  # more than two pages of new eSIMs: some sit in the middle of the list
        account.add(f"89111111111{n:08d}")
    hidden = "89111111111" + f"{20:08d}"  # on page 2 now: not at either end
    account.reads.clear()
    clock.now += 6

    assert index.entry(hidden)[0] == f"uuid-{hidden}"
    assert account.full_walks() == 1


def test_a_stale_index_answers_at_once_and_is_rebuilt_once_in_the_background(cache, clock):
    account = FakeAccount(100)
    index = make_index(cache, account, clock, max_age=60)
    index.entry(account.iccids[3])
    account.reads.clear()
    clock.now += 61
    walks = []
    index_walks.subscribe(walks.append)
    try:
        assert index.entry(account.iccids[3])[0] == f"uuid-{account.iccids[3]}"
        assert index.entry(account.iccids[4])[0] == f"uuid-{account.iccids[4]}"
        concurrency.pool("index").submit(lambda: None).result(5)  # the rebuild has been queued first
        deadline = time.monotonic() + 5
        while not walks and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        index_walks.unsubscribe(walks.append)

    assert [w.kind for w in walks] == ["full"]
    assert account.full_walks() == 1
    assert index.cached()[1]["built_at"] == clock.now


def test_rebuild_walks_only_when_absent_stale_or_forced(cache, clock):
    account = FakeAccount(40)
    index = make_index(cache, account, clock, max_age=60)

    assert index.rebuild()["rebuilt"] is True
    assert index.rebuild()["rebuilt"] is False
    assert index.rebuild(force=True)["rebuilt"] is True
    clock.now += 61
    assert index.rebuild() == {"rebuilt": True, "entries": 40, "built_at": clock.now}
    assert account.full_walks() == 3


def test_a_worker_that_died_mid_walk_does_not_block_the_others_past_its_lease(cache, clock):
    account = FakeAccount(40)
    cache.add("idx:walk", 1, 0.2)  # a lock left by a worker that died

    assert make_index(cache, account, clock).entry(account.iccids[1])[0] == f"uuid-{account.iccids[1]}"
    assert account.full_walks() == 1
