#!/usr/bin/env python3
"""Round trips of the first check after a restart, per provider: where the time of that check goes.

A restart here is what `make bench` calls "after a restart": a fresh process and an empty shared cache
(tokens, indexes, remembered misses and routes gone), the database kept (known eSIMs remembered).
For each demo eSIM this starts a fresh Python process that loads the WSGI application as gunicorn does
(`esim_status_checker.wsgi`, warm-up included) and sends it that one check. The provider simulator runs
in this process with `--latency-ms` per request and records when each request arrived and ended, so
the output shows, per provider, how many requests were made and how many of them followed each other
(the depth: the round trips on that provider's critical path), when the first one left (the app's own
time before asking anybody, in RTT) and when the answer came.

    .venv/bin/python benchmarks/restart_round_trips.py                 # 200 ms per request, ~30 s
    .venv/bin/python benchmarks/restart_round_trips.py --against 52151ab

Uses PostgreSQL (database esim_bench_rt) and Redis db 14 when reachable, like `make bench`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from stats import DEMO_ESIMS  # benchmarks/ is on the path: the script's own directory

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent
DB = "esim_bench_rt"

# One check in a fresh process, through the WSGI application exactly as gunicorn loads it.
CHILD = """
import io, json, sys, time
sys.path.insert(0, {root!r})
from esim_status_checker.wsgi import application
body = json.dumps({{"iccid": {iccid!r}}}).encode()
environ = {{
    "REQUEST_METHOD": "POST", "PATH_INFO": "/api/esim/check/", "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1", "CONTENT_TYPE": "application/json",
    "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "wsgi.url_scheme": "http",
    "REMOTE_ADDR": "127.0.0.1", "SERVER_PROTOCOL": "HTTP/1.1",
}}
status = []
started = time.monotonic()
answer = json.loads(b"".join(application(environ, lambda s, h, *a: status.append(s))))
print(json.dumps({{"started": started, "ended": time.monotonic(), "status": status[0],
                  "sources": answer.get("sources")}}))
"""


class RecordingWorld:
    """The simulator, recording (path, arrived, answered) per provider request."""

    def __init__(self, latency_ms: float) -> None:
        from providers.sandbox import build_world, start_server

        self.world = build_world(extra_esims=100, extra_orders=100, seed=1)
        self.world.set_latency(latency_ms)
        self.log: list[tuple[str, float, float]] = []
        self._lock = threading.Lock()
        handle = self.world.handle

        def recorded(environ):
            arrived = time.monotonic()
            try:
                return handle(environ)
            finally:
                with self._lock:
                    self.log.append((environ.get("PATH_INFO") or "", arrived, time.monotonic()))

        self.world.handle = recorded
        self.server, _, self.base_url = start_server(self.world, port=0)

    def urls(self) -> dict[str, str]:  # what infra.app_env needs of a simulator
        return {name: f"{self.base_url}/{name}" for name in ("airhub", "esimcard", "travelroam")}

    def take(self) -> list[tuple[str, float, float]]:
        with self._lock:
            taken, self.log = self.log, []
        return taken


def depth(requests: list[tuple[str, float, float]]) -> int:
    """The longest chain of requests each sent after the previous one was answered."""
    ordered = sorted(requests, key=lambda r: r[1])
    chain: list[int] = []
    for i, (_, arrived, _) in enumerate(ordered):
        before = [chain[j] for j in range(i) if ordered[j][2] <= arrived]
        chain.append(1 + max(before, default=0))
    return max(chain, default=0)


def first_check(tree: Path, env: dict[str, str], iccid: str) -> dict:
    code = CHILD.format(root=str(tree), iccid=iccid)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise RuntimeError(f"check of {iccid} in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    sys.path.insert(0, str(BENCH))
    sys.path.insert(0, str(ROOT))
    import infra

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--against", default="", help="a commit to measure the same way (a git worktree)")
    args = parser.parse_args()
    rtt = args.latency_ms / 1000
    trees = {"this tree": ROOT}
    if args.against:
        trees[args.against] = infra.baseline_tree(args.against)
    sim = RecordingWorld(args.latency_ms)
    backends = infra.detect_backends()
    logs = infra.RESULTS / "logs" / "round-trips"
    print(f"state: {backends.label}; {args.latency_ms:g} ms per provider request; load {os.getloadavg()}")
    try:
        for label, tree in trees.items():
            backends.create_database(DB)
            backends.flush_cache()
            env = infra.app_env(
                backends=backends,
                database=DB,
                sandbox=sim,
                cache_prefix="rt",
                extra={"STATUS_CACHE_SECONDS": "0"},
            )
            infra.migrate_all({DB: env}, logs, roots={DB: tree})
            for _ in range(2):  # every eSIM known in the database, as before a restart
                for iccid in DEMO_ESIMS:
                    first_check(tree, env, iccid)
            time.sleep(3 * rtt)  # searches finished after the answers are remembered too
            print(f"\n{label}: first check after a restart (fresh process, empty cache, database kept)")
            for _ in range(args.rounds):
                for iccid, owner in DEMO_ESIMS.items():
                    backends.flush_cache()
                    sim.take()
                    result = first_check(tree, env, iccid)
                    time.sleep(3 * rtt)  # what the check left running (searches) is listed too
                    log = sim.take()
                    answered = (result["ended"] - result["started"]) / rtt
                    sent = min((arrived for _, arrived, _ in log), default=result["ended"])
                    per_provider = {}
                    for provider in ("airhub", "esimcard", "travelroam"):
                        mine = [r for r in log if r[0].startswith(f"/{provider}/")]
                        before_answer = [r for r in mine if r[2] <= result["ended"]]
                        per_provider[provider] = (
                            f"{len(mine)} req (depth {depth(mine)}; {len(before_answer)} before the answer)"
                        )
                    print(
                        f"  {owner:18} answered at {answered:4.2f} RTT (HTTP {result['status'][:3]}), "
                        f"first provider request at {(sent - result['started']) / rtt:4.2f} RTT"
                    )
                    for provider, text in per_provider.items():
                        print(f"      {provider:10} {text:40} {result['sources'].get(provider)}")
            backends.drop_database(DB)
    finally:
        backends.flush_cache()
        backends.drop_database(DB)
        sim.server.shutdown()
    print(f"\nload at the end {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
