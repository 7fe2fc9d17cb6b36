"""The staff overview with 100,000 orders on PostgreSQL: how long the page takes to answer (issue 17).

Creates a PostgreSQL database (`esim_overview_bench`, dropped at the end unless --keep), migrates it,
seeds --orders renewal orders spread over --days days (statuses, providers and currencies mixed as in
`pulse.tests.overview_helpers.random_orders`) and a year of hourly lookup rows, runs ANALYZE, then
fetches `/admin/overview/` through Django's test client as a superuser, whole (queries, shaping,
template): the default period (last 30 days) and a period covering every order. Prints p50 / p95 /
max over --rounds fetches after one warm-up, and each selector's own time. Not a test: figures only.

    .venv/bin/python benchmarks/overview_100k.py                 # ~1-2 minutes
    .venv/bin/python benchmarks/overview_100k.py --orders 20000 --rounds 5

Needs PostgreSQL on 127.0.0.1:5432 (user `postgres`), as the other benchmarks (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DATABASE = "esim_overview_bench"
TARGET_MS = 300


def recreate(name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(name: str) -> None:
    os.environ["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{name}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "esim_status_checker.settings.test"
    os.environ["LOG_LEVEL"] = "ERROR"
    import django

    django.setup()


def seed(orders: int, days: int, now: datetime) -> None:
    from pulse.models import ProviderLookupHour
    from pulse.tests.overview_helpers import seed_lookups, seed_orders

    started = time.perf_counter()
    seed_orders(orders, now=now, days=days, seed=17)
    print(f"seeded {orders:,} orders over {days} days in {time.perf_counter() - started:.1f} s")

    seed_lookups(now=now, days=days, seed=17, per_hour=15)
    print(f"seeded {ProviderLookupHour.objects.count():,} hourly lookup rows")

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def timed(function, rounds: int) -> list[float]:
    function()  # warm-up: connections, template loading
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):6.1f} ms   p95 {p95:6.1f} ms   max {ordered[-1]:6.1f} ms"


def measure(rounds: int, days: int, now: datetime) -> bool:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from pulse.selectors import overview as selectors

    user = get_user_model().objects.create_superuser("bench", "bench@example.com", "pw-for-bench-only")
    client = Client()
    client.force_login(user)
    everything = f"?since={(now - timedelta(days=days)).date():%Y-%m-%d}&until={now.date():%Y-%m-%d}"
    ok = True
    for label, query in (("last 30 days (default)", ""), (f"all {days + 1} days", everything)):

        def fetch(query=query):
            response = client.get("/admin/overview/" + query)
            assert response.status_code == 200, response.status_code

        samples = timed(fetch, rounds)
        within = sorted(samples)[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))] < TARGET_MS
        ok &= within
        print(
            f"GET /admin/overview/ {label:24} {summary(samples)}   {'PASS' if within else 'MISS'} (< {TARGET_MS} ms)"
        )
    period = selectors.Period(now.date() - timedelta(days=days), now.date())
    for name, function in (
        ("order_groups", lambda: selectors.order_groups(period)),  # revenue, renewals, fulfilment counts
        ("completion percentiles", lambda: selectors._completion_percentiles(period, None)),
        ("lookups_per_day", lambda: selectors.lookups_per_day(period)),
        ("orders_needing_attention", lambda: selectors.orders_needing_attention()),
    ):
        print(f"  {name:26} (all days) {summary(timed(function, rounds))}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365, help="orders are spread over this many days")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help=f"keep the database {DATABASE}")
    args = parser.parse_args()

    recreate(DATABASE)
    try:
        setup_django(DATABASE)
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        now = datetime.now(UTC)
        seed(args.orders, args.days, now)
        ok = measure(args.rounds, args.days, now)
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            recreate(DATABASE, drop_only=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
