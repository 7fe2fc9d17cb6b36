"""How long a usage-alert scanner pass takes (docs/alerts.md), in this process against the in-process
simulators, on a throw-away SQLite database (or DATABASE_URL).

Two figures per run:

* ``provider looks``: SUBSCRIPTIONS subscriptions on as many distinct eSIMs, budget BUDGET: one pass
  makes BUDGET status checks (each a provider lookup). Printed: the pass time and the time per look.
* ``cached looks``: SUBSCRIPTIONS subscriptions on one eSIM whose answer is cached: the scanner's own
  cost per subscription (claim, evaluate, reschedule), no provider call and no token.

Run: ``.venv/bin/python benchmarks/alert_scan.py [--subscriptions 1000] [--budget 30]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _setup(database: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esim_status_checker.settings.test")
    os.environ.setdefault("DATABASE_URL", database)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def _subscriptions(iccids: list[str]) -> None:
    from django.utils import timezone

    from pulse.models import AlertSubscription

    now = timezone.now()
    AlertSubscription.objects.all().delete()
    AlertSubscription.objects.bulk_create(
        AlertSubscription(
            iccid=iccid,
            email=f"person{n}@example.com",
            thresholds=["data_80"],
            nonce=f"{n:032d}",
            confirmed_at=now,
            next_scan_at=now - timedelta(seconds=n + 1),
        )
        for n, iccid in enumerate(iccids)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1000)
    parser.add_argument("--budget", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        _setup(f"sqlite:///{folder}/bench.sqlite3")
        from django.conf import settings
        from django.core.cache import cache

        from providers.sandbox import reset_default_world
        from pulse.services.alert_scan import scan_alerts
        from pulse.services.status import esim_status_check
        from pulse.tests.test_alerts_budget import _add_esims

        settings.ALERT_PROVIDER_BUDGET = args.budget
        world = reset_default_world()
        iccids = _add_esims(world, args.subscriptions)
        _subscriptions(iccids)
        started = time.perf_counter()
        summary = scan_alerts()
        seconds = time.perf_counter() - started
        per_look = 1000 * seconds / max(summary.lookups, 1)
        print(f"provider looks: {summary.lookups} in {seconds:.2f} s = {per_look:.1f} ms per look")

        cache.clear()
        _subscriptions([iccids[0]] * args.subscriptions)
        esim_status_check(iccid=iccids[0])  # cached now
        started = time.perf_counter()
        summary = scan_alerts()
        seconds = time.perf_counter() - started
        print(
            f"cached looks: {summary.from_cache} in {seconds:.2f} s = "
            f"{1000 * seconds / max(summary.from_cache, 1):.2f} ms per look ({summary.lookups} provider lookups)"
        )


if __name__ == "__main__":
    main()
