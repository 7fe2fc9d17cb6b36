"""``SandboxWorld``: all simulator state, and the WSGI app that dispatches by the first path segment.

``/airhub/...``, ``/esimcard/...``, ``/travelroam/...``, ``/currencyfreaks/...`` go to the provider apps,
``/_control/...`` to the control API. Every state change happens under one re-entrant lock (the HTTP server
is threaded); simulated latency and fault delays are slept *outside* the lock so concurrent clients overlap.

In memory (the default) the world belongs to one process. With ``state_path`` it is *shared*: the provider
accounts (dataset), issued tokens, the top-up log and login counts live in a state file (``statefile.py``)
that every process opening the same path reads and writes. A request first re-reads the file if another
process changed it (one ``PRAGMA data_version``, microseconds); a route registered with ``writes=True``
(logins, top-ups) runs under the file's write lock and saves what it changed before the lock is released,
so concurrent writers in several processes never lose an update. Faults, latency and request counters stay
per process: they configure *this* process's view of the providers, as a test or benchmark sets them up.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from providers.sandbox.airhub import AirHubApp
from providers.sandbox.base import ProviderApp
from providers.sandbox.control import ControlApp
from providers.sandbox.currencyfreaks import CurrencyFreaksApp
from providers.sandbox.dataset import WALLET_PROVIDERS, Dataset, build_dataset
from providers.sandbox.esimcard import EsimCardApp
from providers.sandbox.faults import Fault, FaultBook, make_fault, truncate_json
from providers.sandbox.models import (
    AirHubOrder,
    AirHubPlan,
    AirHubRenewal,
    CardPackage,
    CardPackageType,
    CardSim,
)
from providers.sandbox.statefile import Snapshot, StateFile
from providers.sandbox.tokens import TokenStore
from providers.sandbox.travelroam import TravelRoamApp
from providers.sandbox.travelroam_models import Country, TrAssignment, TrBundle, TrEsim, TrOrder
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


@dataclass
class SharedState:
    """What a shared world keeps in its state file: everything the simulated providers remember."""

    data: Dataset
    tokens: dict[str, Any]  # TokenStore.export()
    topups: list[TopUp]
    logins: Counter[str]


# Bump when a field keeps its name but changes meaning; renamed or added fields change the fingerprint.
STATE_FORMAT = 1
_STATE_CLASSES = (
    SharedState, TopUp, Dataset, AirHubPlan, AirHubOrder, AirHubRenewal, CardPackageType, CardPackage,
    CardSim, Country, TrBundle, TrAssignment, TrEsim, TrOrder,
)  # fmt: skip


def state_fingerprint() -> str:
    """Names the shape of ``SharedState``: a state file written by code of another shape is not loaded."""
    shapes = [f"format {STATE_FORMAT}"]
    shapes += [f"{cls.__qualname__}({','.join(f.name for f in fields(cls))})" for cls in _STATE_CLASSES]
    return hashlib.sha256("\n".join(shapes).encode()).hexdigest()[:32]


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
        state_path: str | os.PathLike[str] | None = None,
        state_secret: str | bytes = "",
    ) -> None:
        """``state_path``: share the world with every process that opens the same file (module docstring);
        ``state_secret`` keys the file's HMAC and must be the same in all of them."""
        self.lock = threading.RLock()
        self._config = {"extra_esims": extra_esims, "extra_orders": extra_orders, "seed": seed}
        self._initial_latency_ms = float(latency_ms)
        self.tokens = TokenStore(token_ttl_seconds)
        self._apps: dict[str, ProviderApp] = {
            app.name: app
            for app in (AirHubApp(self), EsimCardApp(self), TravelRoamApp(self), CurrencyFreaksApp(self))
        }
        self._control = ControlApp(self)
        self._file = (
            StateFile(state_path, fingerprint=state_fingerprint(), secret=state_secret)
            if state_path
            else None
        )
        self._snapshot: Snapshot | None = None  # what this process last read from or wrote to the file
        self._pinned = 0  # > 0 while a request runs: its state must not be swapped out under it
        self._generation = 0
        if self._file is None:
            self.reset()
        else:  # attached on first use, so that reset() works even on a file this process cannot read
            self._reset_process_local()

    # --- state ------------------------------------------------------------------------------------

    @property
    def state_path(self) -> Path | None:
        """The shared state file, or None for a world that lives in this process only."""
        return self._file.path if self._file else None

    @property
    def generation(self) -> int:
        """Counts the changes made through this object (writing requests, edits, faults, latency, resets):
        compare two readings to learn cheaply whether anything changed in between."""
        return self._generation

    @property
    def data(self) -> Dataset:
        """The provider accounts; in a shared world, re-read first if another process changed them."""
        if self._file is None:
            return self._data
        with self.lock:
            self._refresh()
            return self._data

    def reset(self) -> None:
        """Fresh dataset, tokens, counters and faults; latency back to the value given at construction.

        A shared world is reset for every process (its dataset, tokens and top-ups); faults, latency and
        request counters of other processes stay as they are (they are per process)."""
        with self._editing(load=False):
            self._fresh_shared_state()
        with self.lock:
            self._reset_process_local()
        logger.debug("sandbox world reset (%s)", self._config)

    def _fresh_shared_state(self) -> None:
        self._data: Dataset = build_dataset(**self._config)
        self.tokens.invalidate_all()
        self._logins: Counter[str] = Counter()
        self._topups: list[TopUp] = []

    def _reset_process_local(self) -> None:
        self._faults = FaultBook()
        self._requests: dict[str, Counter[str]] = {name: Counter() for name in self._apps}
        self.latency_ms = self._initial_latency_ms

    # --- the shared state file --------------------------------------------------------------------

    def _attach(self, file: StateFile) -> None:
        """Load the shared world, or create it when the file has none (or none this code can read)."""
        with self.lock, file.transaction():
            snapshot = file.load()
            if snapshot is None:
                self._fresh_shared_state()
                snapshot = file.save(self._shared_state(), None)
                logger.info("sandbox world created in %s", file.path)
            else:
                logger.debug("sandbox world %s loaded (version %s)", file.path, snapshot.version)
            self._apply(snapshot)

    def _refresh(self, *, force: bool = False) -> None:
        """Under the lock: adopt another process's newer state. Never while a request is running."""
        if self._file is None or (self._pinned and not force):
            return
        if self._snapshot is None and not force:
            self._attach(self._file)
            return
        if not (force or self._file.changed()):
            return
        version = self._file.version()
        if self._snapshot is not None and version == self._snapshot.version:
            return
        snapshot = self._file.load() if version is not None else None
        if snapshot is not None:
            self._apply(snapshot)
        elif force:  # inside the write transaction already: start over, for every process
            self._fresh_shared_state()
            self._apply(self._file.save(self._shared_state(), None))
        else:  # emptied, or unreadable by this code: start over under the write lock
            self._attach(self._file)

    def _shared_state(self) -> SharedState:
        return SharedState(self._data, self.tokens.export(), self._topups, self._logins)

    def _apply(self, snapshot: Snapshot) -> None:
        state: SharedState = snapshot.state
        self._data = state.data
        self.tokens.restore(state.tokens)
        self._topups = state.topups
        self._logins = state.logins
        self._snapshot = snapshot

    @contextlib.contextmanager
    def _editing(self, *, load: bool = True) -> Iterator[None]:
        """Hold the lock (and a shared world's file write lock) while the block changes the state; then save.

        ``load=False``: the block replaces the whole shared state, so the stored one is not read first."""
        with self.lock:
            self._generation += 1
            if self._file is None:
                yield
                return
            self._pinned += 1
            try:
                with self._file.transaction():
                    if load:
                        self._refresh(force=True)
                    yield
                    self._snapshot = self._file.save(self._shared_state(), self._snapshot)
            except BaseException:
                self._snapshot = None  # the in-memory copy may be half changed: read it again next time
                raise
            finally:
                self._pinned -= 1

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """Hold the lock on an up-to-date state that stays the same until the block ends."""
        with self.lock:
            if self._file is not None:
                self._refresh()
            self._pinned += 1
            try:
                yield
            finally:
                self._pinned -= 1

    def edit(self) -> contextlib.AbstractContextManager[None]:
        """For tests and scripts that change ``world.data`` directly: ``with world.edit(): ...``.

        In a shared world the change is saved for every process when the block ends; without the block it
        would stay in this process and be replaced by the next state another process writes."""
        return self._editing()

    @property
    def token_ttl_seconds(self) -> float:
        return self.tokens.ttl_seconds

    @token_ttl_seconds.setter
    def token_ttl_seconds(self, value: float) -> None:
        self._generation += 1
        self.tokens.ttl_seconds = value

    def now(self) -> datetime:
        return datetime.now(UTC).replace(microsecond=0)

    def record_login(self, provider: str) -> None:
        self._logins[provider] += 1

    def record_topup(self, provider: str, iccid: str, item: str, reference: str, amount: str) -> None:
        self._topups.append(TopUp(provider, iccid, item, reference, self.now().isoformat(), amount))

    def set_latency(self, ms: float) -> None:
        with self.lock:
            self._generation += 1
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
            self._generation += 1
            self._faults.set(fault)
        if mode == "token_expired":
            with self._editing():
                self.tokens.invalidate_all(provider)
        logger.info("sandbox fault set: %s %s", provider, mode)
        return fault

    def clear_faults(self, provider: str | None = None) -> None:
        with self.lock:
            self._generation += 1
            self._faults.clear(provider)

    def faults(self) -> list[dict[str, Any]]:
        with self.lock:
            return self._faults.active()

    # --- accessors --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self._reading():
            return {
                "logins": {name: self._logins[name] for name in ("airhub", "esimcard")},
                "requests": {name: dict(counter) for name, counter in self._requests.items()},
                "topups": [asdict(topup) for topup in self._topups],
                "latency_ms": self.latency_ms,
                "faults": self._faults.active(),
                "token_ttl_seconds": self.tokens.ttl_seconds,
            }

    def wallets(self) -> dict[str, str]:
        """Each simulated provider's reseller wallet (USD), as strings."""
        with self._reading():
            return {name: str(self._data.wallet(name)) for name in WALLET_PROVIDERS}

    def set_wallet(self, provider: str, amount: Decimal | str | int) -> None:
        """Drain or refill a simulated provider's wallet, for every process sharing this world."""
        if provider not in WALLET_PROVIDERS:
            raise ValueError(f"no wallet for {provider!r}; choose from {', '.join(WALLET_PROVIDERS)}")
        value = Decimal(str(amount))
        if not value.is_finite() or value < 0:
            raise ValueError("a wallet balance is a number of at least 0")
        with self._editing():
            self._data.set_wallet(provider, value)
        logger.info("sandbox wallet of %s set to %s", provider, value)

    def topups(self, provider: str | None = None) -> list[dict[str, Any]]:
        with self._reading():
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
        with self._editing() if match is not None and match.route.writes else self._reading():
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
            with self._editing():
                self.tokens.invalidate_all(app.name)
            return app.auth_error()
        return None


def build_world(extra_esims: int = 0, extra_orders: int = 0, seed: int = 1, **options: Any) -> SandboxWorld:
    """A new world: the demo dataset plus synthetic filler (see ``dataset.build_dataset``)."""
    return SandboxWorld(extra_esims=extra_esims, extra_orders=extra_orders, seed=seed, **options)


_default_worlds: dict[str | None, SandboxWorld] = {}
_default_lock = threading.Lock()


def get_default_world(
    state_path: str | os.PathLike[str] | None = None, *, state_secret: str | bytes = ""
) -> SandboxWorld:
    """The process-wide world used by the Django app's in-process sandbox (built on first use).

    Without ``state_path`` it lives in this process only; with one it is the world shared through that
    file (one object per file in this process; ``state_secret`` counts on the first call)."""
    key = str(Path(state_path).resolve()) if state_path else None
    with _default_lock:
        world = _default_worlds.get(key)
        if world is None:
            world = _default_worlds[key] = build_world(state_path=key, state_secret=state_secret)
        return world


def reset_default_world(
    state_path: str | os.PathLike[str] | None = None, *, state_secret: str | bytes = ""
) -> SandboxWorld:
    """Reset the default world in place (sessions that mounted it keep working) and return it."""
    world = get_default_world(state_path, state_secret=state_secret)
    world.reset()
    return world
