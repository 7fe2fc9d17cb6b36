"""`python manage.py rebuild_indexes [--force]`: rebuild stale or absent provider list indexes (for cron)."""

from django.core.management.base import BaseCommand, CommandError

from pulse.services.indexes import rebuild_provider_indexes


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
        failed = []
        for provider, result in report.items():
            if "error" in result:
                failed.append(provider)
                self.stdout.write(self.style.WARNING(f"{provider}: failed ({result['error']})"))
                continue
            for index, outcome in result.items():
                state = "rebuilt" if outcome["rebuilt"] else "fresh"
                self.stdout.write(f"{provider} {index}: {state}, {outcome['entries']} entries")
        if failed:
            raise CommandError(f"index rebuild failed for {', '.join(failed)}")
