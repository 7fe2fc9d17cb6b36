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
    results, first_error = [], None
    for result, error in gather_settled(*calls, pool_name=pool_name):
        results.append(result)
        first_error = first_error or error
    if first_error is not None:
        raise first_error
    return results


def gather_settled(
    *calls: Callable[[], Any], pool_name: str = "client"
) -> list[tuple[Any, BaseException | None]]:
    """Like gather, but returns (result, error) per call so callers can tolerate partial failure.

    The last call runs in the calling thread (which would only wait otherwise): one thread hand-off
    less per gather."""
    futures = [submit(pool_name, call) for call in calls[:-1]]
    last = _settle(calls[-1]) if calls else None
    settled = [_settle(future.result) for future in futures]
    return settled if last is None else [*settled, last]


def _settle(call: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    try:
        return call(), None
    except Exception as exc:  # handed back to the caller, which decides what is fatal
        return None, exc
