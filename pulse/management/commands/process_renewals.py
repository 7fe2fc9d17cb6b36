"""`python manage.py process_renewals [--loop --interval N]`: settle renewal orders left in limbo.

One pass for cron, or a long-running worker with --loop. Each pass is the `reconciler` job and then
the `email_sweep` job (the same runs Celery beat schedules), recorded for health and the admin; a
job another process is running right now is skipped. Safe to run in several processes at once:
every change is a compare-and-set transition.
"""

import signal
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from pulse.services.jobs import run_job

JOBS = ("reconciler", "email_sweep")


class Command(BaseCommand):
    help = "Reclaim expired fulfilment leases, re-sync pending checkouts, retry top-ups, settle refunds."

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", action="store_true", help="keep running, one pass every --interval seconds"
        )
        parser.add_argument(
            "--interval", type=float, default=30.0, help="seconds between passes (with --loop)"
        )
        parser.add_argument("--passes", type=int, default=0, help="stop after this many passes (0 = forever)")

    def handle(self, *args, loop=False, interval=30.0, passes=0, **options):
        self._stopping = False
        if loop:
            signal.signal(signal.SIGTERM, self._stop)
            signal.signal(signal.SIGINT, self._stop)
        done = 0
        while True:
            for name in JOBS:
                outcome = run_job(name)
                if outcome is None:
                    self.stdout.write(f"{name}: skipped, another run of it has not finished")
                elif name == "reconciler":
                    self.stdout.write(outcome.detail)
                else:
                    self.stdout.write(f"{name}: {outcome.detail}")
            done += 1
            if not loop or self._stopping or (passes and done >= passes):
                return
            # A long-running worker must not keep a connection the database has dropped.
            close_old_connections()
            self._sleep(max(interval, 0.1))

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            time.sleep(min(0.5, deadline - time.monotonic()))

    def _stop(self, signum, frame):
        self._stopping = True
