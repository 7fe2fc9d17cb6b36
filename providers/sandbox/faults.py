"""Per-provider fault injection: timeouts, refused connections, 5xx/429, expired tokens, broken bodies.

A fault applies to the provider's requests whose path contains ``path_contains`` (all when None), for the
next ``times`` matching requests (until cleared when None). ``token_expired`` is the exception: it is
one-shot unless ``times`` says otherwise, because the provider then "behaves normally".
Not thread-safe by itself: the world calls it under its lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

PROVIDERS = ("airhub", "esimcard", "travelroam", "currencyfreaks")
MODES = (
    "timeout",  # hold the answer delay_s (default 30 s): the client's read timeout fires first
    "connection_refused",  # drop the connection without answering
    "http_500",
    "http_404",  # the provider's own 404 (a path its gateway does not route, or an unknown record)
    "http_429",  # with Retry-After: retry_after (default 7)
    "token_expired",  # invalidate the provider's tokens: the next authenticated call gets the real 401/403
    "malformed_json",  # 200 with a truncated JSON body
    "status_false",  # 200 with the provider's business-failure body
    "slow",  # sleep delay_s (default 2 s), then the normal answer
    "rejected",  # a definite business refusal (not "wallet empty": drain a wallet with set_wallet for that)
)
DEFAULT_DELAY = {"timeout": 30.0, "slow": 2.0}
DEFAULT_RETRY_AFTER = 7


class FaultError(ValueError):
    """Invalid fault specification (unknown provider or mode, bad option)."""


@dataclass
class Fault:
    provider: str
    mode: str
    times: int | None = None
    delay_s: float = 0.0
    retry_after: int = DEFAULT_RETRY_AFTER
    path_contains: str | None = None
    hits: int = 0

    def matches(self, path: str) -> bool:
        return self.path_contains is None or self.path_contains.lower() in path.lower()

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def make_fault(
    provider: str,
    mode: str,
    *,
    times: int | None = None,
    delay_s: float | None = None,
    retry_after: int | None = None,
    path_contains: str | None = None,
) -> Fault:
    if provider not in PROVIDERS:
        raise FaultError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")
    if mode not in MODES:
        raise FaultError(f"unknown fault mode {mode!r}; expected one of {', '.join(MODES)}")
    if times is not None and (not isinstance(times, int) or times < 1):
        raise FaultError("times must be a positive integer or null")
    if mode == "token_expired" and times is None:
        times = 1
    return Fault(
        provider=provider,
        mode=mode,
        times=times,
        delay_s=float(delay_s if delay_s is not None else DEFAULT_DELAY.get(mode, 0.0)),
        retry_after=int(retry_after if retry_after is not None else DEFAULT_RETRY_AFTER),
        path_contains=path_contains or None,
    )


class FaultBook:
    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def set(self, fault: Fault) -> None:
        """Add a fault, replacing one for the same provider and path filter (others stay active)."""
        self._faults = [
            f
            for f in self._faults
            if not (f.provider == fault.provider and f.path_contains == fault.path_contains)
        ]
        self._faults.insert(0, fault)  # newest first: the most recent setting wins on overlap

    def clear(self, provider: str | None = None) -> None:
        self._faults = [f for f in self._faults if provider is not None and f.provider != provider]

    def take(self, provider: str, path: str, *, authenticated: bool) -> Fault | None:
        """The fault that applies to this request, counting it against ``times``."""
        for fault in self._faults:
            if fault.provider != provider or not fault.matches(path):
                continue
            # An expired token can only show on a call that carries one (not on the login itself).
            if fault.mode == "token_expired" and not authenticated:
                continue
            fault.hits += 1
            if fault.times is not None and fault.hits >= fault.times:
                self._faults.remove(fault)
            return fault
        return None

    def active(self) -> list[dict[str, Any]]:
        return [fault.to_json() for fault in self._faults]


def truncate_json(body: bytes) -> bytes:
    """Cut a JSON body roughly in half so it no longer parses (never empty, never valid)."""
    if len(body) < 4:
        return b'{"'
    return body[: max(len(body) // 2, 2)].rstrip(b"}]")
