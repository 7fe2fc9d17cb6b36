"""Ask every provider at once, bounded by a deadline (docs/status.md, "Asking the providers").

Each provider lookup runs in the shared "fanout" pool. The answer is ready when every provider has
answered, or when the deadline passes, or when some provider has found the eSIM and the others have
had `grace` more seconds to add what they know (only `search_grace` for a provider still searching
without a reference, which is usually building a proof of absence): a slow or failing provider never
holds an answer that another provider can give. Providers still running at that point are reported
as timed out (or pending); their threads finish on their own HTTP timeouts, and their outcomes are
handed to `on_late` so the caller can finish the merge after answering.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime

from providers import concurrency
from providers.base import EsimRecord
from providers.errors import ProviderError, ProviderNotFound, ProviderTimeout
from providers.observe import Lookup, lookups

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderOutcome:
    """What one provider said in one check."""

    provider: str
    record: EsimRecord | None = None
    error: ProviderError | None = None
    skipped: str | None = None  # "not_configured", "remembered", or "pending" (answered without it)
    elapsed_ms: int = 0
    as_of: datetime | None = None  # when the data behind a found / not_found outcome was read

    @property
    def found(self) -> bool:
        return self.record is not None

    @property
    def not_found(self) -> bool:
        return isinstance(self.error, ProviderNotFound)

    @property
    def source(self) -> str:
        """The provider's entry in the answer's `sources` map."""
        if self.record is not None:
            return "found"
        if self.skipped == "not_configured":
            return "not_configured"
        if self.not_found:
            return "not_found"
        if self.error is not None:
            return f"error:{self.error.code}"
        return f"error:{self.skipped or 'unknown'}"


def fan_out(
    calls: Mapping[str, Callable[[], EsimRecord]],
    *,
    deadline: float,
    grace: float,
    searching: Collection[str] = (),
    search_grace: float = 0.0,
    on_late: Callable[[dict[str, ProviderOutcome]], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, ProviderOutcome]:
    """Run `calls` (provider name → lookup) concurrently and collect one outcome per provider.

    `searching` names the providers looking the eSIM up without a stored reference: most of them end
    in a proof of absence, which can take many round trips on a large account. Once another provider
    has found the eSIM they get only `search_grace`, and are reported `error:pending`; the per-eSIM
    reads get `grace`. Every call still running when the answer is ready goes on, and `on_late` gets
    their outcomes once all have finished, so the caller can finish the merge after answering.
    """
    started = clock()
    futures: dict[Future, str] = {
        concurrency.submit("fanout", _timed, name, call, clock): name for name, call in calls.items()
    }
    outcomes: dict[str, ProviderOutcome] = {}
    pending = set(futures)
    found_at: float | None = None
    while pending:
        stop_at = started + deadline
        if found_at is not None:
            reading = any(futures[future] not in searching for future in pending)
            stop_at = min(stop_at, found_at + (grace if reading else search_grace))
        remaining = stop_at - clock()
        if remaining <= 0:
            break
        done, pending = _wait_first(pending, remaining)
        for future in done:
            outcome = future.result()
            outcomes[outcome.provider] = outcome
            if outcome.found and found_at is None:
                found_at = clock()
    elapsed_ms = _ms_since(started, clock)
    for future in pending:
        name = futures[future]
        if found_at is not None and name in searching:
            outcomes[name] = ProviderOutcome(name, skipped="pending", elapsed_ms=elapsed_ms)
            continue
        outcomes[name] = ProviderOutcome(
            name, error=ProviderTimeout(name, "no answer within the check deadline"), elapsed_ms=elapsed_ms
        )
        logger.warning("%s did not answer within the check deadline", name, extra={"provider": name})
    if pending and on_late is not None:
        _LateOutcomes(pending, on_late).watch()
    return {name: outcomes[name] for name in calls}


def _wait_first(pending: set[Future], timeout: float) -> tuple[set[Future], set[Future]]:
    """`wait(pending, timeout, FIRST_COMPLETED)` as (done, not done); a single future (the check of an
    eSIM whose other providers are remembered misses) is waited on through its own condition, without
    the waiter objects `wait` builds (~10 µs of CPU per check)."""
    if len(pending) != 1:
        done, not_done = wait(pending, timeout=timeout, return_when=FIRST_COMPLETED)
        return done, not_done
    (future,) = pending
    with contextlib.suppress(TimeoutError, CancelledError):
        future.exception(timeout=timeout)
    return (pending, set()) if future.done() else (set(), pending)


class _LateOutcomes:
    """Collects the outcomes of calls that finished after the answer; hands them over once all are in."""

    def __init__(self, futures: set[Future], on_late: Callable[[dict[str, ProviderOutcome]], None]) -> None:
        self._futures = futures
        self._on_late = on_late
        self._outcomes: dict[str, ProviderOutcome] = {}
        self._lock = threading.Lock()

    def watch(self) -> None:
        for future in list(self._futures):
            future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        outcome = future.result()  # _timed never raises
        with self._lock:
            self._outcomes[outcome.provider] = outcome
            complete = len(self._outcomes) == len(self._futures)
        if complete:
            concurrency.submit("late", self._on_late, dict(self._outcomes))


def _timed(name: str, call: Callable[[], EsimRecord], clock: Callable[[], float]) -> ProviderOutcome:
    started = clock()
    try:
        record = call()
    except ProviderError as exc:
        as_of = exc.as_of if isinstance(exc, ProviderNotFound) else None
        outcome = ProviderOutcome(
            name, error=exc, elapsed_ms=_ms_since(started, clock), as_of=as_of or _now()
        )
    except Exception as exc:  # a client bug must not sink the other providers' answers
        logger.exception("%s lookup crashed", name, extra={"provider": name})
        error = ProviderError(name, f"unexpected {type(exc).__name__}")
        error.code = "internal"
        outcome = ProviderOutcome(name, error=error, elapsed_ms=_ms_since(started, clock))
    else:
        outcome = ProviderOutcome(
            name, record=record, elapsed_ms=_ms_since(started, clock), as_of=record.as_of or _now()
        )
    lookups.emit(Lookup(name, outcome.source, clock() - started))
    return outcome


def _now() -> datetime:
    return datetime.now(UTC)


def _ms_since(started: float, clock: Callable[[], float]) -> int:
    return round((clock() - started) * 1000)
