#!/usr/bin/env python3
"""How fast the payment webhook answers while every provider top-up takes 10 s (docs/performance.md).

Starts, as real processes on 127.0.0.1 (all stopped at the end, also on Ctrl-C or an error):

* the provider simulators over HTTP (`python -m providers.sandbox --esims N`), every TravelRoam top-up
  carried out at once but answered `--top-up-seconds` (10) later;
* gunicorn (`--web-workers` x 4 threads) and one `celery worker` (`--worker-concurrency`), on a
  PostgreSQL database created for the run (SQLite file when PostgreSQL is unreachable) and Redis as
  broker and cache (`--redis-url`, keys and queues prefixed per run, deleted at the end).

Then, per order: create it over HTTP (a distinct synthetic TravelRoam eSIM each, so no checkout is
reused), pay it at the sandbox gateway in this process (same database) and POST the signed
`checkout.session.completed` event to the webhook, timing the answer at the client. The worker is
saturated with 10 s top-ups while the webhooks arrive, as when a provider is slow.

Prints p50 / p95 / p99 / max of the webhook's answer time, and how many top-ups the worker finished
meanwhile (none twice). Writes benchmarks/results/webhook-<UTC time>.json.

    .venv/bin/python benchmarks/webhook_latency.py [--orders 200] [--redis-url redis://127.0.0.1:6379/14]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from providers.sandbox.filler import TRAVELROAM_PREFIX  # noqa: E402
from providers.sandbox.iccids import make_iccid  # noqa: E402
from tests.reliability import servers  # noqa: E402
from tests.reliability.celery_stack import (  # noqa: E402
    Stack,
    app_environment,
    deliver_webhook,
    start_simulator,
)

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TARGET_P99_MS = 300.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200, help="webhooks to time (one order each)")
    parser.add_argument("--top-up-seconds", type=float, default=10.0, help="provider latency per top-up")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--worker-concurrency", type=int, default=4)
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    parser.add_argument("--warmup", type=int, default=10, help="webhooks sent first and not counted")
    return parser.parse_args(argv)


@contextlib.contextmanager
def database(log_dir: Path):
    """A PostgreSQL database for this run (dropped at the end), else an SQLite file."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:  # PostgreSQL is optional for a benchmark
        print(f"PostgreSQL unreachable ({type(exc).__name__}); using an SQLite file")
        yield f"sqlite:///{log_dir / 'bench.sqlite3'}", "SQLite"
        return
    name = f"esim_bench_webhook_{os.getpid()}"
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgres://postgres@127.0.0.1:5432/{name}", "PostgreSQL"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def migrate(env: dict[str, str], log_dir: Path) -> None:
    proc = servers.start(
        "migrate", [servers.PYTHON, "manage.py", "migrate", "--noinput"], env=env, log_dir=log_dir
    )
    servers.drain_stdout(proc, log_dir / "migrate.log")
    if proc.wait(timeout=300) != 0:
        raise RuntimeError((log_dir / "migrate.log").read_text())


def use_database_here(env: dict[str, str]) -> None:
    """This process plays the customer at the sandbox gateway: Django on the same database."""
    os.environ.update({key: value for key, value in env.items() if key not in ("PATH", "HOME")})
    import django

    django.setup()


def pay(web: str, session: requests.Session, iccid: str) -> tuple[str, bytes, str]:
    from pulse.payments.sandbox_gateway import SandboxGateway

    created = session.post(
        f"{web}/api/esim/renewal/create/", json={"iccid": iccid, "currency": "USD"}, timeout=60
    )
    if created.status_code != 201:
        raise RuntimeError(f"create for {iccid}: {created.status_code} {created.text[:300]}")
    session_id = created.json()["payment"]["session_id"]
    _state, body, signature = SandboxGateway().sandbox_complete(session_id, "paid")
    return created.json()["order"]["order_id"], body, signature


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def run(args: argparse.Namespace) -> dict:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    prefix = f"bench-webhook-{os.getpid()}"
    total = args.orders + args.warmup
    with database(log_dir) as (db_url, db_name):
        simulator_proc, simulator = start_simulator(log_dir, "--esims", str(total))
        env = app_environment(
            db_url=db_url,
            simulator=simulator,
            cache_url=args.redis_url,
            broker_url=args.redis_url,
            prefix=prefix,
            LOG_LEVEL="WARNING",
            DB_CONN_MAX_AGE="60",  # the production default (the tests close connections after each request)
            PROVIDER_TIMEOUT=str(args.top_up_seconds + 10),
            FULFILMENT_LEASE_SECONDS="600",
            CELERY_FULFIL_TIME_LIMIT=str(int(args.top_up_seconds + 30)),
        )
        stack = Stack(log_dir, simulator, env, procs=[simulator_proc])
        try:
            migrate(env, log_dir)
            web = stack.start_web(workers=args.web_workers)
            stack.start_worker("worker", concurrency=args.worker_concurrency, LOG_LEVEL="INFO")
            stack.control(
                "POST",
                "/faults",
                json={
                    "provider": "travelroam",
                    "mode": "slow",
                    "delay_s": args.top_up_seconds,
                    "path_contains": "processorders",
                },
            )
            # Every order is topped up: a wallet that ran dry would pause sales mid-run (issue 14).
            stack.control("POST", "/wallets", json={"provider": "travelroam", "balance": "1000000"})
            use_database_here(env)
            return measure(args, stack, web, db_name, log_dir)
        finally:
            stack.stop_all()
            cleanup_redis(args.redis_url, prefix)


def measure(args: argparse.Namespace, stack: Stack, web: str, db_name: str, log_dir: Path) -> dict:
    from pulse.models import RenewalOrder

    session = requests.Session()
    iccids = [make_iccid(TRAVELROAM_PREFIX, serial) for serial in range(1, args.orders + args.warmup + 1)]
    print(f"creating and paying {len(iccids)} orders ...", flush=True)
    paid = [pay(web, session, iccid) for iccid in iccids]
    latencies_ms: list[float] = []
    statuses: list[int] = []
    started = time.monotonic()
    for index, (_order_id, body, signature) in enumerate(paid):
        response, seconds = deliver_webhook(web, body, signature, session)
        if index >= args.warmup:
            latencies_ms.append(seconds * 1000)
            statuses.append(response.status_code)
    sending_seconds = time.monotonic() - started
    # Let the saturated worker finish at least one round of top-ups, to show the flow completes.
    time.sleep(args.top_up_seconds + 5)
    order_ids = [order_id for order_id, _body, _signature in paid]
    completed = RenewalOrder.objects.filter(order_id__in=order_ids, status="COMPLETED").count()
    topups = stack.topups()
    references = [topup["reference"] for topup in topups]
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "database": db_name,
        "orders": args.orders,
        "warmup": args.warmup,
        "top_up_seconds": args.top_up_seconds,
        "web_workers": args.web_workers,
        "worker_concurrency": args.worker_concurrency,
        "status_codes": sorted(set(statuses)),
        "webhook_ms": {
            "p50": round(percentile(latencies_ms, 50), 1),
            "p95": round(percentile(latencies_ms, 95), 1),
            "p99": round(percentile(latencies_ms, 99), 1),
            "max": round(max(latencies_ms), 1),
            "mean": round(statistics.fmean(latencies_ms), 1),
        },
        "sending_seconds": round(sending_seconds, 1),
        "completed_after_wait": completed,
        "topups_at_provider": len(topups),
        "duplicate_topups": len(references) - len(set(references)),
        "logs": str(log_dir),
    }
    return result


def cleanup_redis(url: str, prefix: str) -> None:
    import redis

    with contextlib.suppress(Exception):
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        for key in client.scan_iter(f"*{prefix}*"):
            client.delete(key)


def report(result: dict) -> None:
    ms = result["webhook_ms"]
    verdict = "PASS" if ms["p99"] <= TARGET_P99_MS and result["status_codes"] == [200] else "MISS"
    print()
    print(
        f"webhook answer time over HTTP, {result['orders']} paid orders, provider top-up {result['top_up_seconds']:.0f} s"
    )
    print(
        f"  p50 {ms['p50']:.1f} ms   p95 {ms['p95']:.1f} ms   p99 {ms['p99']:.1f} ms   max {ms['max']:.1f} ms"
    )
    print(f"  target p99 <= {TARGET_P99_MS:.0f} ms: {verdict}   (answers: {result['status_codes']})")
    print(
        f"  meanwhile the worker ({result['worker_concurrency']} processes) completed "
        f"{result['completed_after_wait']} orders; top-ups at the provider: {result['topups_at_provider']}, "
        f"duplicates: {result['duplicate_topups']}"
    )
    print(f"  database {result['database']}; logs in {result['logs']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result = run(args)
    report(result)
    out_dir = ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"webhook-{stamp}-{uuid.uuid4().hex[:4]}.json").write_text(json.dumps(result, indent=2))
    return 0 if result["duplicate_topups"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
