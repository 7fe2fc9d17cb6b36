"""Ask every provider at once, bounded by a deadline (docs/status.md, "Asking the providers").

Each provider lookup runs in the shared "fanout" pool. The answer is ready when every provider has
answered, or when the deadline passes, or when some provider has found the eSIM and the others have
had `grace` more seconds to add what they know: a slow or failing provider never holds an answer
that another provider can give. Providers still running at that point are reported as timed out;
their threads finish on their own HTTP timeouts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass

from providers import concurrency
from providers.base import EsimRecord
from providers.errors import ProviderError, ProviderNotFound, ProviderTimeout

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProviderOutcome:
    """What one provider said in one check."""

    provider: str
    record: EsimRecord | None = None
    error: ProviderError | None = None
    skipped: str | None = None  # "not_configured", or why the call was not made
    elapsed_ms: int = 0

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
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, ProviderOutcome]:
    """Run `calls` (provider name → lookup) concurrently and collect one outcome per provider."""
    started = clock()
    futures: dict[Future, str] = {
        concurrency.submit("fanout", _timed, name, call, clock): name for name, call in calls.items()
    }
    outcomes: dict[str, ProviderOutcome] = {}
    pending = set(futures)
    stop_at = started + deadline
    while pending:
        remaining = stop_at - clock()
        if remaining <= 0:
            break
        done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
        for future in done:
            outcome = future.result()
            outcomes[outcome.provider] = outcome
            if outcome.found:
                stop_at = min(stop_at, clock() + grace)
    for future in pending:
        name = futures[future]
        outcomes[name] = ProviderOutcome(
            name,
            error=ProviderTimeout(name, "no answer within the check deadline"),
            elapsed_ms=round((clock() - started) * 1000),
        )
        logger.warning("%s did not answer within the check deadline", name, extra={"provider": name})
    return {name: outcomes[name] for name in calls}


def _timed(name: str, call: Callable[[], EsimRecord], clock: Callable[[], float]) -> ProviderOutcome:
    started = clock()
    try:
        record = call()
    except ProviderError as exc:
        return ProviderOutcome(name, error=exc, elapsed_ms=_ms_since(started, clock))
    except Exception as exc:  # a client bug must not sink the other providers' answers
        logger.exception("%s lookup crashed", name, extra={"provider": name})
        error = ProviderError(name, f"unexpected {type(exc).__name__}")
        error.code = "internal"
        return ProviderOutcome(name, error=error, elapsed_ms=_ms_since(started, clock))
    return ProviderOutcome(name, record=record, elapsed_ms=_ms_since(started, clock))


def _ms_since(started: float, clock: Callable[[], float]) -> int:
    return round((clock() - started) * 1000)
