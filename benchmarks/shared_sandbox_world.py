#!/usr/bin/env python3
"""What the shared sandbox world (ESIM_SANDBOX_STATE, providers/sandbox/README.md) costs per simulator request.

    .venv/bin/python benchmarks/shared_sandbox_world.py [--reads 2000] [--writes 200]   # a few seconds

In-process transport (as the app uses it), demo world; medians. Compares an in-memory world with one that
shares its state through a file in a temporary directory: a read (TravelRoam esims/details), a write
(TravelRoam processorders, a top-up; the state grows with each), and the first read after another process
wrote (the reload). Not part of `make bench`; the figures are noisy on a loaded machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from providers.sandbox import (
    DEMO_ICCIDS,
    SANDBOX_CREDENTIALS,
    SandboxWorld,
    build_world,
    mount_sandbox,
    sandbox_base_urls,
)

SECRET = "fake-benchmark-secret"  # noqa: S105 - keys the temporary state file's HMAC only
TURKEY = DEMO_ICCIDS["travelroam_expired_turkey"]
READ = ("/esims/details", {"iccid": TURKEY})
WRITE = ("/processorders", {"bundleName": "esim_1GB_7D_TR_V2", "iccid": TURKEY})


class Client:
    def __init__(self, world: SandboxWorld) -> None:
        self.session = requests.Session()
        mount_sandbox(self.session, world)
        creds = SANDBOX_CREDENTIALS["travelroam"]
        self.headers = {"x-api-key": creds["api_key"], "clientSecret": creds["client_secret"]}
        self.base = sandbox_base_urls()["travelroam"]

    def call_ms(self, path: str, body: dict) -> float:
        started = time.perf_counter()
        response = self.session.post(self.base + path, json=body, headers=self.headers, timeout=10)
        response.raise_for_status()
        return (time.perf_counter() - started) * 1000

    def median_ms(self, call: tuple[str, dict], count: int) -> float:
        for _ in range(20):  # warm-up: imports, caches, the first login-free path
            self.call_ms(*READ)
        return statistics.median(self.call_ms(*call) for _ in range(count))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sandbox-world.sqlite3"
        memory = Client(build_world())
        shared = Client(build_world(state_path=path, state_secret=SECRET))
        other_process = Client(build_world(state_path=path, state_secret=SECRET))
        rows = [
            ("read", memory.median_ms(READ, args.reads), shared.median_ms(READ, args.reads)),
            ("write (top-up)", memory.median_ms(WRITE, args.writes), shared.median_ms(WRITE, args.writes)),
        ]
        other_process.call_ms(*WRITE)
        reload_ms = shared.call_ms(*READ)
        size_kb = path.stat().st_size // 1024
    print(f"{'request':<16}{'in memory':>12}{'shared':>12}   (median ms)")
    for name, in_memory, in_file in rows:
        print(f"{name:<16}{in_memory:>12.3f}{in_file:>12.3f}")
    print(f"first read after another process wrote: {reload_ms:.2f} ms (state file {size_kb} KB)")


if __name__ == "__main__":
    main()
