"""``SandboxWorld``: all simulator state, and the WSGI app that dispatches by the first path segment.

``/airhub/...``, ``/esimcard/...``, ``/travelroam/...``, ``/currencyfreaks/...`` go to the provider apps,
``/_control/...`` to the control API. Every state change happens under one re-entrant lock (the HTTP server
is threaded); simulated latency and fault delays are slept *outside* the lock so concurrent clients overlap.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from providers.sandbox.airhub import AirHubApp
from providers.sandbox.base import ProviderApp
from providers.sandbox.control import ControlApp
from providers.sandbox.currencyfreaks import CurrencyFreaksApp
from providers.sandbox.dataset import Dataset, build_dataset
from providers.sandbox.esimcard import EsimCardApp
from providers.sandbox.faults import Fault, FaultBook, make_fault, truncate_json
from providers.sandbox.tokens import TokenStore
from providers.sandbox.travelroam import TravelRoamApp
from providers.sandbox.wsgi import (
    Request,
    Response,
    SimulatedConnectionRefused,
    json_response,
    request_from_environ,
    simulated_sleep,
)

logger = logging.getLogger(__name__)


@dataclass
class TopUp:
    provider: str
    iccid: str
    item: str  # bundle name / package_type_id / AirHub order id
    reference: str  # what the provider returned: orderReference / package id / renewId
    created_at: str
    amount: str
    currency: str = "USD"


class SandboxWorld:
    """State of the four simulated APIs plus fault and latency controls; itself a WSGI application."""

    def __init__(
        self,
        *,
        extra_esims: int = 0,
        extra_orders: int = 0,
        seed: int = 1,
        latency_ms: float = 0,
        token_ttl_seconds: float = 3600,
    ) -> None:
        self.lock = threading.RLock()
        self._config = {"extra_esims": extra_esims, "extra_orders": extra_orders, "seed": seed}
        self._initial_latency_ms = float(latency_ms)
        self.tokens = TokenStore(token_ttl_seconds)
        self._apps: dict[str, ProviderApp] = {
            app.name: app
            for app in (AirHubApp(self), EsimCardApp(self), TravelRoamApp(self), CurrencyFreaksApp(self))
        }
        self._control = ControlApp(self)
        self.reset()

    # --- state ------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Fresh dataset, tokens, counters and faults; latency back to the value given at construction."""
        data = build_dataset(**self._config)
        with self.lock:
            self.data: Dataset = data
            self.tokens.invalidate_all()
            self._faults = FaultBook()
            self._logins: Counter[str] = Counter()
            self._requests: dict[str, Counter[str]] = {name: Counter() for name in self._apps}
            self._topups: list[TopUp] = []
            self.latency_ms = self._initial_latency_ms
        logger.debug("sandbox world reset (%s)", self._config)

    @property
    def token_ttl_seconds(self) -> float:
        return self.tokens.ttl_seconds

    @token_ttl_seconds.setter
    def token_ttl_seconds(self, value: float) -> None:
        self.tokens.ttl_seconds = value

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def record_login(self, provider: str) -> None:
        self._logins[provider] += 1

    def record_topup(self, provider: str, iccid: str, item: str, reference: str, amount: str) -> None:
        self._topups.append(TopUp(provider, iccid, item, reference, self.now().isoformat(), amount))

    def set_latency(self, ms: float) -> None:
        with self.lock:
            self.latency_ms = max(float(ms), 0.0)

    # --- faults -----------------------------------------------------------------------------------

    def set_fault(
        self,
        provider: str,
        mode: str,
        *,
        times: int | None = None,
        delay_s: float | None = None,
        retry_after: int | None = None,
        path_contains: str | None = None,
    ) -> Fault:
        fault = make_fault(
            provider, mode, times=times, delay_s=delay_s, retry_after=retry_after, path_contains=path_contains
        )
        with self.lock:
            self._faults.set(fault)
            if mode == "token_expired":
                self.tokens.invalidate_all(provider)
        logger.info("sandbox fault set: %s %s", provider, mode)
        return fault

    def clear_faults(self, provider: str | None = None) -> None:
        with self.lock:
            self._faults.clear(provider)

    def faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return self._faults.active()

    # --- accessors --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "logins": {name: self._logins[name] for name in ("airhub", "esimcard")},
                "requests": {name: dict(counter) for name, counter in self._requests.items()},
                "topups": [asdict(topup) for topup in self._topups],
                "latency_ms": self.latency_ms,
                "faults": self._faults.active(),
                "token_ttl_seconds": self.tokens.ttl_seconds,
            }

    def topups(self, provider: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [asdict(t) for t in self._topups if provider is None or t.provider == provider]

    # --- WSGI -------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        return self.handle(environ)(environ, start_response)

    def handle(self, environ: dict[str, Any]) -> Response:
        """Answer one request. May raise SimulatedTimeout / SimulatedConnectionRefused for the transport."""
        path = environ.get("PATH_INFO") or "/"
        first, _, rest = path.lstrip("/").partition("/")
        rest = "/" + rest
        if first == "_control":
            return self._control.handle(request_from_environ(environ, rest))
        app = self._apps.get(first)
        if app is None:
            return json_response({"message": f"Unknown sandbox service {first!r}"}, 404)
        return self._handle_provider(app, request_from_environ(environ, rest))

    def _handle_provider(self, app: ProviderApp, request: Request) -> Response:
        match = app.router.match(request.method, request.path)
        authenticated = match is not None and match.route.auth
        with self.lock:
            self._requests[app.name][match.route.pattern if match else request.path] += 1
            fault = self._faults.take(app.name, request.path, authenticated=authenticated)
            latency_s = self.latency_ms / 1000
        simulated_sleep(request.environ, latency_s)
        early = self._fault_before(app, fault) if fault else None
        if early is not None:
            return early
        with self.lock:
            response = app.dispatch(match, request)
        if fault and fault.mode in ("timeout", "slow"):
            # The work is done, only the answer is late: a timed-out top-up did happen (reconcile it).
            simulated_sleep(request.environ, fault.delay_s)
        if fault and fault.mode == "malformed_json":
            response = Response(200, truncate_json(response.body), [("Content-Type", "application/json")])
        return response

    def _fault_before(self, app: ProviderApp, fault: Fault) -> Response | None:
        logger.debug("sandbox fault %s hits %s", fault.mode, app.name)
        if fault.mode == "connection_refused":
            raise SimulatedConnectionRefused(f"{app.name}: connection refused (sandbox fault)")
        if fault.mode == "http_500":
            return app.server_error()
        if fault.mode == "http_404":
            return app.not_found()
        if fault.mode == "http_429":
            return app.too_many_requests(fault.retry_after)
        if fault.mode == "status_false":
            return app.status_false()
        if fault.mode == "rejected":
            return app.rejected()
        if fault.mode == "token_expired":
            with self.lock:
                self.tokens.invalidate_all(app.name)
            return app.auth_error()
        return None


def build_world(extra_esims: int = 0, extra_orders: int = 0, seed: int = 1, **options: Any) -> SandboxWorld:
    """A new world: the demo dataset plus synthetic filler (see ``dataset.build_dataset``)."""
    return SandboxWorld(extra_esims=extra_esims, extra_orders=extra_orders, seed=seed, **options)


_default_world: SandboxWorld | None = None
_default_lock = threading.Lock()


def get_default_world() -> SandboxWorld:
    """The process-wide world used by the Django app's in-process sandbox (built on first use)."""
    global _default_world
    with _default_lock:
        if _default_world is None:
            _default_world = build_world()
        return _default_world


def reset_default_world() -> SandboxWorld:
    """Reset the default world in place (sessions that mounted it keep working) and return it."""
    world = get_default_world()
    world.reset()
    return world
