"""`python manage.py rebuild_indexes [--force]`: rebuild stale or absent provider list indexes (for cron)."""

from django.core.management.base import BaseCommand, CommandError

from pulse.services.indexes import rebuild_provider_indexes, report_lines


class Command(BaseCommand):
    help = (
        "Rebuild the provider list indexes (eSIMCard ICCID index, AirHub order lists) that are absent or "
        "stale, off the request path. Safe to run from several hosts at once: one walk per index."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="rebuild even indexes that are still fresh")

    def handle(self, *args, force=False, **options):
        report = rebuild_provider_indexes(force=force)
        if not report:
            self.stdout.write("No enabled provider keeps an index.")
            return
        for line, ok in report_lines(report):
            self.stdout.write(line if ok else self.style.WARNING(line))
        failed = [provider for provider, result in report.items() if "error" in result]
        if failed:
            raise CommandError(f"index rebuild failed for {', '.join(failed)}")
