"""`python manage.py sync_catalog [--provider X]`: pull every provider's bundle catalogue into the database."""

from django.core.management.base import BaseCommand, CommandError

from providers.base import PROVIDER_NAMES
from pulse.services.catalog import catalog_sync

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
        summaries = catalog_sync(provider=provider, progress=self._progress if interactive else None)
        if not summaries:
            raise CommandError("No provider is enabled: set provider credentials or ESIM_SANDBOX=true.")
        if interactive:
            self.stdout.write("")
        for summary in summaries:
            style = self.style.SUCCESS if summary.ok else self.style.WARNING
            self.stdout.write(style(summary.line()))
        failed = [s.provider for s in summaries if not s.ok]
        if failed:
            raise CommandError(f"sync failed for {', '.join(failed)} (last good catalogue kept)")

    def _progress(self, provider: str, done: int, total: int) -> None:
        filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stdout.write(f"\r{provider:<11} [{bar}] {done}/{total}", ending="")
        self.stdout.flush()
