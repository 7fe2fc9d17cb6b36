"""`python manage.py sync_catalog [--provider X]`: pull every provider's bundle catalogue into the database.

Each provider's sync is recorded as a run of its `catalog_sync:<provider>` job, as when Celery beat
runs it, so health knows when the catalogue last synced whichever way it runs.
"""

from functools import partial

from django.core.management.base import BaseCommand, CommandError

from providers.base import PROVIDER_NAMES
from pulse.services.jobs import CATALOG_PREFIX, catalog_sync_job, run_recorded
from pulse.services.providers import enabled_clients

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Sync bundle catalogues (added / changed / deactivated); a provider outage keeps the last good one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--provider", choices=PROVIDER_NAMES, help="only this provider")

    def handle(self, *args, provider=None, **options):
        # The stream written to, not the process's stdout: call_command(stdout=...) gets no bar.
        interactive = self.stdout.isatty()
        enabled = enabled_clients()
        names = [name for name in PROVIDER_NAMES if name in enabled and provider in (None, name)]
        if not names:
            raise CommandError("No provider is enabled: set provider credentials or ESIM_SANDBOX=true.")
        failed = []
        for name in names:
            job = partial(catalog_sync_job, name, self._progress if interactive else None)
            outcome = run_recorded(f"{CATALOG_PREFIX}{name}", job)
            if interactive:
                self.stdout.write("")
            style = self.style.SUCCESS if outcome.ok else self.style.WARNING
            self.stdout.write(style(outcome.detail))
            if not outcome.ok:
                failed.append(name)
        if failed:
            raise CommandError(f"sync failed for {', '.join(failed)} (last good catalogue kept)")

    def _progress(self, provider: str, done: int, total: int) -> None:
        filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stdout.write(f"\r{provider:<11} [{bar}] {done}/{total}", ending="")
        self.stdout.flush()
