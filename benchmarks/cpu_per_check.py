#!/usr/bin/env python3
"""App CPU per status check, per eSIM owner, for this tree and (optionally) another commit.

Wall-clock figures are noisy on a shared machine; CPU time is much less so. This starts the provider
simulator (its own process, so its CPU is not counted) and, for each source tree, one child process
that runs Django in-process (the test client: middleware, DRF, the view, the fan-out and the provider
HTTP calls in their pool threads, all in the child) and measures `time.process_time()` — the CPU of
every thread of the process — over `--checks` checks of each demo eSIM, after priming. Rounds alternate
between the trees (a fresh child each), and the median round is reported.

    .venv/bin/python benchmarks/cpu_per_check.py                      # this tree
    .venv/bin/python benchmarks/cpu_per_check.py --against 52151ab     # and that commit, alternating

Regimes: **warm** (known eSIM, tokens and remembered misses in place, STATUS_CACHE_SECONDS=0) and
**cached** (STATUS_CACHE_SECONDS=600, every check a cache hit). gunicorn's own HTTP handling (~0.3 ms)
is not included; `make bench` measures the whole gunicorn process group. Also prints the provider
requests per check.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from stats import DEMO_ESIMS  # benchmarks/ is on the path: the script's own directory

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
DB = "esim_bench_cpu"  # one database per tree: esim_bench_cpu_0, _1


def child(checks: int) -> dict:
    """Runs in the tree under test (cwd), with the app's environment already set: one round."""
    import django
    import requests

    django.setup()
    from django.test import Client
    from stats import stats_delta

    client = Client(HTTP_HOST="127.0.0.1")
    stats_url = os.environ["TRAVELROAM_BASE_URL"].rsplit("/", 1)[0] + "/_control/stats"

    def check(iccid: str) -> None:
        response = client.post("/api/esim/check/", {"iccid": iccid}, content_type="application/json")
        if response.status_code != 200:
            raise SystemExit(f"check of {iccid} answered {response.status_code}: {response.content[:300]!r}")

    for _ in range(3):  # tokens, references, remembered misses, indexes, pools, keep-alive connections
        for iccid in DEMO_ESIMS:
            check(iccid)
    time.sleep(0.5)
    row = {}
    for iccid, label in DEMO_ESIMS.items():
        before = requests.get(stats_url, timeout=10).json()
        started = time.process_time()
        for _ in range(checks):
            check(iccid)
        cpu_ms = (time.process_time() - started) * 1000 / checks
        sent = stats_delta(before, requests.get(stats_url, timeout=10).json())["requests"]
        row[label] = {"cpu_ms": cpu_ms, "provider_requests": sum(sent.values()) / checks}
    return row


def run_child(tree: Path, env: dict[str, str], checks: int) -> dict:
    code = (
        f"import sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(BENCH)!r});"
        f"import json, cpu_per_check as c; print(json.dumps(c.child({checks})))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=1800
    )
    if out.returncode != 0:
        raise RuntimeError(f"child in {tree} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_row(rounds: list[dict]) -> dict:
    return {
        label: {
            key: statistics.median(r[label][key] for r in rounds) for key in ("cpu_ms", "provider_requests")
        }
        for label in DEMO_ESIMS.values()
    }


def main() -> int:
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT))
    import infra

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--against", default="", help="a commit to measure the same way (a git worktree)")
    parser.add_argument("--checks", type=int, default=40, help="checks per eSIM per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per tree and regime (median reported)")
    parser.add_argument("--latency-ms", type=float, default=20)
    args = parser.parse_args()

    trees = {"this tree": ROOT}
    if args.against:
        trees[args.against] = infra.baseline_tree(args.against)
    procs = infra.Processes()
    procs.install_handlers()
    backends = infra.detect_backends()
    logs = infra.RESULTS / "logs" / "cpu"
    databases = {label: f"{DB}_{i}" for i, label in enumerate(trees)}
    try:
        managed = infra.start_sandbox(
            procs, "sandbox", latency_ms=args.latency_ms, esims=100, orders=100, logs=logs
        )
        sandbox = infra.wait_sandbox(managed, latency_ms=args.latency_ms, esims=100, orders=100)
        print(
            f"state: {backends.label}; simulator {args.latency_ms:g} ms per request; load {os.getloadavg()}"
        )
        backends.flush_cache()
        envs: dict[tuple[str, str], dict[str, str]] = {}
        for i, (label, tree) in enumerate(trees.items()):
            backends.create_database(databases[label])
            for regime, seconds in (("warm", "0"), ("cached", "600")):
                envs[label, regime] = infra.app_env(
                    backends=backends,
                    database=databases[label],
                    sandbox=sandbox,
                    cache_prefix=f"cpu{i}-{regime}",
                    extra={"STATUS_CACHE_SECONDS": seconds},
                )
            infra.migrate_all({databases[label]: envs[label, "warm"]}, logs, roots={databases[label]: tree})
        # Rounds alternate between the trees, so a change of machine load hits both alike.
        rounds: dict[tuple[str, str], list[dict]] = {key: [] for key in envs}
        for _ in range(args.rounds):
            for (label, regime), env in envs.items():
                rounds[label, regime].append(run_child(trees[label], env, args.checks))
        print(f"app CPU ms per check (median of {args.rounds} rounds x {args.checks} checks per eSIM)")
        for regime in ("warm", "cached"):
            for label in trees:
                row = median_row(rounds[label, regime])
                mixed = sum(cell["cpu_ms"] for cell in row.values()) / len(row)
                cells = "  ".join(
                    f"{owner} {cell['cpu_ms']:5.2f} ({cell['provider_requests']:g} req)"
                    for owner, cell in row.items()
                )
                print(f"  {regime:6} {label:12} mixed {mixed:5.2f}   {cells}")
        print(f"load at the end {os.getloadavg()}")
    finally:
        procs.stop_all()
        backends.flush_cache()
        for name in databases.values():
            backends.drop_database(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
