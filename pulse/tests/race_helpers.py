"""Thread races against the database: several calls released at the same moment, each on its own connection.

They need one database every connection sees: PostgreSQL or a file-backed SQLite (run with DATABASE_URL);
the default in-memory SQLite is per connection, so call `skip_unless_shared_database()` first (after the
test database is set up: inside the test or in a fixture that depends on `transactional_db`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest
from django.db import connection


def skip_unless_shared_database() -> None:
    """Thread races need one database every connection sees: PostgreSQL or a file-backed SQLite.

    In-memory SQLite is per connection (the default `pytest` run without DATABASE_URL), so skip there.
    """
    name = str(connection.settings_dict["NAME"])
    if connection.vendor == "sqlite" and (name.startswith("file:memorydb") or name == ":memory:"):
        pytest.skip("in-memory SQLite is per connection; run with DATABASE_URL (file SQLite or PostgreSQL)")


def run_together(calls: Sequence[Callable[[], object]], *, timeout: float = 60) -> list[object]:
    """Run each zero-argument call in its own thread, all released at once by a barrier.

    Returns, in the order of `calls`, what each call returned or the exception it raised (a
    `threading.BrokenBarrierError` if the threads never all met). Each thread closes its own database
    connection. Fails the test if a thread is still running `timeout` seconds after they were started.
    """
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=timeout)
            results[index] = call()
        except BaseException as exc:  # reported by the test's assertions, not lost in the thread
            results[index] = exc
        finally:
            connection.close()

    # Daemon threads: one stuck for good fails the assertion below without also hanging the test run.
    threads = [threading.Thread(target=worker, args=(i, call), daemon=True) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    alive = [index for index, thread in enumerate(threads) if thread.is_alive()]
    assert not alive, f"calls {alive} still running after {timeout} s"
    return results


def exceptions_in(results: Sequence[object]) -> list[BaseException]:
    """The exceptions `run_together` returned in place of results (empty when every call returned)."""
    return [result for result in results if isinstance(result, BaseException)]
