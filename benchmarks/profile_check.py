#!/usr/bin/env python3
"""Where the time of a status check goes: py-spy under load, pyinstrument for single requests.

Not part of `make bench` (it needs the profilers, which are not project requirements):

    .venv/bin/pip install py-spy pyinstrument
    .venv/bin/python benchmarks/profile_check.py               # ~1 minute

Starts the same servers as run_all.py (simulator with 100 ms per provider request, gunicorn A with the
status cache and B without, PostgreSQL + Redis when reachable), then:

1. CPU profile under load: `py-spy record --subprocesses` on each gunicorn master while wrk drives
   the warm check (B), the cached check (A) and health (A) at `--connections` for `--seconds`. Idle
   threads (waiting on a provider or a socket) are not sampled, so this is where the CPU goes.
   Prints the heaviest functions by self and by inclusive samples, grouped by package.
2. Wall-clock profile of one request at a time: pyinstrument around Django's test client in this
   process (same settings as B), for warm and cached checks. The request thread waits in
   `fan_out` while the providers answer; everything else is the overhead on top of the RTT.

Raw profiles go to benchmarks/results/profile-<time>/.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import infra  # noqa: E402
from loadgen import CHECK_PATH, HEALTH_PATH, CheckClient, load_run  # noqa: E402

ICCIDS = ["8932042000010245583", "8944000000000000100", "8944000000000000209", "8944000000000000506"]
DB = "esim_bench_profile"
PY_SPY = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

GROUPS = (
    ("providers/sandbox", "simulator"),
    ("providers/", "providers (clients, fan-out, breaker)"),
    ("pulse/", "pulse (views, services)"),
    ("esim_status_checker/", "project settings/logging"),
    ("rest_framework", "DRF"),
    ("django/db", "Django ORM + DB driver"),
    ("psycopg", "Django ORM + DB driver"),
    ("django/core/cache", "Django cache + redis-py"),
    ("redis/", "Django cache + redis-py"),
    ("django", "Django (request, middleware, urls)"),
    ("urllib3", "requests/urllib3 (provider HTTP)"),
    ("requests/", "requests/urllib3 (provider HTTP)"),
    ("http/client", "requests/urllib3 (provider HTTP)"),
    ("gunicorn", "gunicorn"),
    ("json/", "json"),
    ("logging/", "logging"),
    ("concurrent/futures", "thread pools"),
    ("threading", "thread pools"),
)


# Share of samples whose stack passes through these (a sample can count in several).
HOTSPOTS = {
    "Django cache calls (SafeCache -> RedisCache)": "SafeCache.",
    "  of which the circuit breaker's": "providers/breaker.py",
    "  of which building a redis.Redis client per call": "Redis.__init__ (redis/client.py",
    "  of which opening a new Redis connection": "ConnectionPool.make_connection",
    "provider HTTP (requests Session.request)": "Session.request (requests/sessions.py",
    "  of which proxy lookup in os.environ": "get_environ_proxies",
    "database (Django ORM)": "django/db/",
    "JSON": "json/",
}


def group_of(frame: str) -> str:
    for needle, group in GROUPS:
        if needle in frame:
            return group
    return "other (stdlib, socket, ssl, ...)"


def summarize_raw(path: Path, top: int = 18) -> str:
    """py-spy --format raw: 'frame;frame;...;leaf count' per line (root first)."""
    self_counts: Counter[str] = Counter()
    incl_counts: Counter[str] = Counter()
    group_counts: Counter[str] = Counter()
    hot: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if f and not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        for label, needle in HOTSPOTS.items():
            if needle in stack:
                hot[label] += count
        leaf = frames[-1]
        self_counts[leaf] += count
        group_counts[group_of(leaf)] += count
        for frame in set(frames):
            if any(key in frame for key in ("providers/", "pulse/", "esim_status_checker/")):
                incl_counts[frame] += count
    if not total:
        return "   (no samples)"
    out = [f"   {total} samples holding the GIL"]
    out.append("   share of samples inside:")
    out.extend(f"     {hot[label] / total:6.1%}  {label}" for label in HOTSPOTS)
    out.append("   self time by package:")
    out.extend(f"     {n / total:6.1%}  {g}" for g, n in group_counts.most_common())
    out.append("   heaviest leaf functions (self):")
    out.extend(f"     {n / total:6.1%}  {f}" for f, n in self_counts.most_common(top))
    out.append("   project functions by inclusive CPU:")
    out.extend(f"     {n / total:6.1%}  {f}" for f, n in incl_counts.most_common(top))
    return "\n".join(out)


def py_spy_under_load(
    server: infra.Gunicorn, label: str, path: str, body: list[str], seconds: float, conns: int, out: Path
) -> str:
    raw = out / f"pyspy-{label}.txt"
    spy = subprocess.Popen(
        [
            PY_SPY,
            "record",
            "--pid",
            str(server.managed.proc.pid),
            "--subprocesses",
            "--gil",  # only the thread holding the GIL: Python CPU, not threads blocked on I/O
            "--rate",
            "250",
            "--format",
            "raw",
            "--nonblocking",
            "--duration",
            str(int(seconds)),
            "--output",
            str(raw),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    time.sleep(0.5)
    run = load_run(server.url, path, connections=conns, duration=seconds, iccids=body)
    try:
        _, err = spy.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        os.killpg(spy.pid, 9)
        _, err = spy.communicate()
    head = f"{label}: {run['rps']:.0f} req/s, p50 {run['p50_ms']:.1f} ms, p99 {run['p99_ms']:.1f} ms at c={conns}"
    if not raw.exists():
        return f"{head}\n   py-spy failed: {err.decode(errors='replace')[-300:]}"
    return f"{head}\n{summarize_raw(raw)}"


def pyinstrument_in_process(env: dict[str, str], out: Path, n: int) -> str:
    os.environ.update(env)
    import django

    django.setup()
    from django.test import Client
    from pyinstrument import Profiler

    client = Client(HTTP_HOST="127.0.0.1")
    texts = []
    for label, iccids in (("warm", ICCIDS), ("warm-travelroam", ICCIDS[:1])):
        for iccid in iccids:  # prime this process (its own thread pools and sessions)
            client.post(CHECK_PATH, {"iccid": iccid}, content_type="application/json")
        profiler = Profiler(interval=0.0005)
        started = time.perf_counter()
        profiler.start()
        for i in range(n):
            client.post(CHECK_PATH, {"iccid": iccids[i % len(iccids)]}, content_type="application/json")
        profiler.stop()
        per = (time.perf_counter() - started) * 1000 / n
        text = profiler.output_text(unicode=False, color=False, show_all=False)
        (out / f"pyinstrument-{label}.txt").write_text(text)
        texts.append(f"--- {label}: {n} checks, {per:.1f} ms each (wall clock, request thread) ---\n{text}")
    return "\n".join(texts)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--checks", type=int, default=40, help="checks per pyinstrument profile")
    parser.add_argument("--latency-ms", type=float, default=100)
    args = parser.parse_args()
    if not Path(PY_SPY).exists():
        print("py-spy not found: .venv/bin/pip install py-spy pyinstrument")
        return 2

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = infra.RESULTS / f"profile-{stamp}"
    out.mkdir(parents=True, exist_ok=True)
    procs = infra.Processes()
    procs.install_handlers()
    backends = infra.detect_backends()
    try:
        managed = infra.start_sandbox(
            procs, "sandbox", latency_ms=args.latency_ms, esims=100, orders=100, logs=out
        )
        sandbox = infra.wait_sandbox(managed, latency_ms=args.latency_ms, esims=100, orders=100)
        backends.create_database(DB)
        backends.flush_cache()
        common = {"backends": backends, "database": DB, "sandbox": sandbox}
        env_a = infra.app_env(**common, cache_prefix="prof-a")
        env_b = infra.app_env(**common, cache_prefix="prof-b", extra={"STATUS_CACHE_SECONDS": "0"})
        infra.migrate(env_a, out, DB)
        workers, threads = (4, 16) if backends.postgres and backends.redis else (1, 64)
        a = infra.start_gunicorn(procs, "gunicorn-a", env_a, workers=workers, threads=threads, logs=out)
        b = infra.start_gunicorn(procs, "gunicorn-b", env_b, workers=workers, threads=threads, logs=out)
        for server in (a, b):
            client = CheckClient(server.url)
            for _ in range(3):
                for iccid in ICCIDS:
                    client.check(iccid)
            client.close()
            load_run(server.url, CHECK_PATH, connections=32, duration=2, iccids=ICCIDS)
        print(f"state: {backends.label}; gunicorn {workers}x{threads}; profiles in {out}")
        print("\n== 1. CPU under load (py-spy, on-CPU samples of every gunicorn process) ==")
        for label, server, path, body in (
            ("warm_check", b, CHECK_PATH, ICCIDS),
            ("cached_check", a, CHECK_PATH, ICCIDS),
            ("health", a, HEALTH_PATH, []),
        ):
            print(
                py_spy_under_load(server, label, path, body, args.seconds, args.connections, out), flush=True
            )
        print("\n== 2. wall clock of one check at a time (pyinstrument, request thread, in-process) ==")
        print(pyinstrument_in_process(env_b, out, args.checks), flush=True)
    finally:
        procs.stop_all()
        backends.flush_cache()
        backends.drop_database(DB)
        shutil.rmtree(backends.tmpdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
