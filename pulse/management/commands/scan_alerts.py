"""`python manage.py scan_alerts`: one pass of the usage-alert scanner (docs/alerts.md).

Celery beat runs the same pass every SCHEDULE_ALERT_SCAN_SECONDS (job `alert_scan`); this is for cron
users and for trying it by hand. The pass takes the job's lease (skipped when another pass has not
finished), is recorded as a run of `alert_scan`, and prints its summary. Exit code 2 when skipped.
"""

from django.core.management.base import BaseCommand

from pulse.services import jobs


class Command(BaseCommand):
    help = "Run one pass of the usage-alert scanner and print what it did."

    def handle(self, *args, **options):
        outcome = jobs.run_job("alert_scan")
        if outcome is None:
            self.stdout.write("alert_scan: skipped (another pass has not finished)")
            raise SystemExit(2)
        self.stdout.write(self.style.SUCCESS(f"alert_scan: {outcome.detail}"))
