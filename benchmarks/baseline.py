"""The sequential baseline: how the original system checked an eSIM, rebuilt from today's provider clients.

Per check, in this process (no Django, no gunicorn):

1. a fresh `MemoryCache` and brand-new `AirHubClient`, `ESimCardClient` and `TravelRoamClient`, each with
   its own new HTTP session: no login token, no eSIMCard ICCID -> UUID index, no AirHub order index and
   no stored reference survive from one check to the next;
2. `lookup(iccid)` (no reference) of AirHub, then eSIMCard, then TravelRoam, one provider after the other,
   every provider asked even when an earlier one found the eSIM (the answer merges all three, as the
   service's does). A provider's "not found" or error is recorded and the next provider is asked.

So every check logs in to AirHub and eSIMCard, reads AirHub's recent-orders list (and, when the eSIM is
not among them, its order history), pages through eSIMCard's whole eSIM list, and reads TravelRoam's
three per-eSIM endpoints: a fresh login every time and full list scans, as the original did.

Two variants are measured:

* ``sequential providers`` (the baseline the target uses): the clients keep their own small internal
  concurrency (TravelRoam's three reads at once, eSIMCard list pages over 4 lanes, AirHub history
  windows at once). This is conservative: the original made every call one after another.
* ``fully sequential`` (for information): the shared "client" thread pool is swapped for a one-thread
  pool in this process only, so every HTTP request waits for the previous one, as in the original.

Run alone: ``python benchmarks/baseline.py --base-url http://127.0.0.1:PORT`` against a running simulator.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from providers import concurrency  # noqa: E402
from providers.airhub import AirHubClient  # noqa: E402
from providers.base import AIRHUB, ESIMCARD, TRAVELROAM  # noqa: E402
from providers.cache import MemoryCache  # noqa: E402
from providers.errors import ProviderError, ProviderNotFound  # noqa: E402
from providers.esimcard import ESimCardClient  # noqa: E402
from providers.http import build_session  # noqa: E402
from providers.merge import merge_records  # noqa: E402
from providers.sandbox.credentials import SANDBOX_CREDENTIALS  # noqa: E402
from providers.travelroam import TravelRoamClient  # noqa: E402

ORDER = (AIRHUB, ESIMCARD, TRAVELROAM)
TIMEOUT = (3.05, 10.0)  # the app's defaults (PROVIDER_CONNECT_TIMEOUT, PROVIDER_TIMEOUT)


def fresh_clients(base_url: str) -> dict[str, Any]:
    """New clients sharing one new, empty MemoryCache: nothing survives from an earlier check."""
    cache = MemoryCache()
    creds = SANDBOX_CREDENTIALS
    return {
        AIRHUB: AirHubClient(
            base_url=f"{base_url}/airhub",
            username=creds["airhub"]["username"],
            password=creds["airhub"]["password"],
            cache=cache,
            session=build_session(),
            timeout=TIMEOUT,
        ),
        ESIMCARD: ESimCardClient(
            base_url=f"{base_url}/esimcard",
            email=creds["esimcard"]["email"],
            password=creds["esimcard"]["password"],
            cache=cache,
            session=build_session(),
            timeout=TIMEOUT,
        ),
        TRAVELROAM: TravelRoamClient(
            base_url=f"{base_url}/travelroam",
            api_key=creds["travelroam"]["api_key"],
            client_secret=creds["travelroam"]["client_secret"],
            cache=cache,
            session=build_session(),
            timeout=TIMEOUT,
        ),
    }


def sequential_check(base_url: str, iccid: str) -> dict[str, Any]:
    """One baseline check; returns wall time (ms) and each provider's outcome and time."""
    clients = fresh_clients(base_url)
    outcomes: dict[str, str] = {}
    per_provider_ms: dict[str, float] = {}
    found = {}
    started = time.perf_counter()
    for name in ORDER:
        t0 = time.perf_counter()
        try:
            found[name] = clients[name].lookup(iccid)
            outcomes[name] = "found"
        except ProviderNotFound:
            outcomes[name] = "not_found"
        except ProviderError as exc:
            outcomes[name] = f"error:{exc.code}"
        per_provider_ms[name] = round((time.perf_counter() - t0) * 1000, 1)
    status = merge_records(iccid, found).primary.status.value if found else None
    ms = (time.perf_counter() - started) * 1000
    for client in clients.values():
        client._http.session.close()
    return {"iccid": iccid, "ms": ms, "status": status, "sources": outcomes, "provider_ms": per_provider_ms}


@contextlib.contextmanager
def one_call_at_a_time() -> Iterator[None]:
    """Swap the shared "client" pool for a one-thread pool (this process only): every HTTP request of a
    client then waits for the previous one. No client nests "client"-pool work, so this cannot deadlock."""
    serial = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-serial")
    with concurrency._pools_lock:
        previous = concurrency._pools.get("client")
        concurrency._pools["client"] = serial
    try:
        yield
    finally:
        with concurrency._pools_lock:
            if previous is not None:
                concurrency._pools["client"] = previous
            else:
                concurrency._pools.pop("client", None)
        serial.shutdown(wait=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--base-url", required=True, help="simulator base URL, e.g. http://127.0.0.1:8765")
    parser.add_argument("--fully-sequential", action="store_true")
    parser.add_argument("iccids", nargs="*", default=["8932042000010245583", "8944000000000000100"])
    args = parser.parse_args()
    context = one_call_at_a_time() if args.fully_sequential else contextlib.nullcontext()
    with context:
        for iccid in args.iccids:
            result = sequential_check(args.base_url, iccid)
            print(f"{iccid}: {result['ms']:.0f} ms {result['sources']} {result['provider_ms']}")


if __name__ == "__main__":
    main()
