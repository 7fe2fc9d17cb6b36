"""Running a few blocking provider calls at once, keeping the caller's logging context.

Worker threads start with an empty context; copying it keeps the request id on their log lines.
Two pools: one for the per-provider fan-out of a status check and one for the calls inside a
client (details + bundles + location, list pages), so nested use can never deadlock.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

_pools: dict[str, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()
# "late": finishing a status merge after its answer went out; "index": index rebuilds off the request path.
_POOL_SIZES = {"fanout": 48, "client": 64, "late": 4, "index": 2}


def pool(name: str) -> ThreadPoolExecutor:
    with _pools_lock:
        executor = _pools.get(name)
        if executor is None:
            executor = ThreadPoolExecutor(
                max_workers=_POOL_SIZES.get(name, 16), thread_name_prefix=f"esim-{name}"
            )
            _pools[name] = executor
        return executor


def submit(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
    context = contextvars.copy_context()
    return pool(name).submit(context.run, fn, *args, **kwargs)


def gather(*calls: Callable[[], Any], pool_name: str = "client") -> list[Any]:
    """Run the calls concurrently and return their results in order; the first error is raised
    after all have finished (each call carries its own HTTP timeout, so this cannot hang)."""
    if len(calls) == 1:
        return [calls[0]()]
    futures = [submit(pool_name, call) for call in calls]
    results, first_error = [], None
    for future in futures:
        try:
            results.append(future.result())
        except Exception as exc:  # re-raised below, after every call has settled
            results.append(None)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error
    return results


def gather_settled(
    *calls: Callable[[], Any], pool_name: str = "client"
) -> list[tuple[Any, BaseException | None]]:
    """Like gather, but returns (result, error) per call so callers can tolerate partial failure."""
    futures = [submit(pool_name, call) for call in calls]
    settled: list[tuple[Any, BaseException | None]] = []
    for future in futures:
        try:
            settled.append((future.result(), None))
        except Exception as exc:  # handed back to the caller, which decides what is fatal
            settled.append((None, exc))
    return settled
