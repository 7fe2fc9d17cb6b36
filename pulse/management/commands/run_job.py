"""`python manage.py run_job NAME` / `--list`: run one scheduled job now, as Celery beat would.

For cron users without Celery beat, and for staff. The run takes the job's lease (skipped when
another run of it has not finished) and is recorded for health and the admin. Exit code 1 when the
job failed, 2 when it was skipped.
"""

from django.core.management.base import BaseCommand, CommandError

from pulse.services import jobs


class Command(BaseCommand):
    help = "Run one scheduled job now (reconciler, email_sweep, esim_index, catalog_sync:<provider>)."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="the job's name (see --list)")
        parser.add_argument("--list", action="store_true", help="list the jobs, their interval and state")

    def handle(self, *args, name=None, **options):
        if options["list"] or not name:
            self._list()
            return
        try:
            outcome = jobs.run_job(name)
        except jobs.UnknownJob as exc:
            raise CommandError(str(exc)) from exc
        if outcome is None:
            self.stdout.write(f"{name}: skipped (another run has not finished, or nothing to do here)")
            raise SystemExit(2)
        style = self.style.SUCCESS if outcome.ok else self.style.ERROR
        self.stdout.write(style(f"{name}: {'ok' if outcome.ok else 'FAILED'} {outcome.detail}".rstrip()))
        if not outcome.ok:
            self.stderr.write(outcome.error)
            raise SystemExit(1)

    def _list(self) -> None:
        states = {state.name: state for state in jobs.job_states()}
        for name in jobs.job_names():
            every = jobs.interval(name)
            schedule = f"every {every:.0f}s" if every > 0 else "not scheduled"
            state = states.get(name)
            if state is None:
                self.stdout.write(f"{name:<24} {schedule:<16} (not applicable or not scheduled)")
                continue
            last = state.last_success.isoformat() if state.last_success else "never"
            self.stdout.write(f"{name:<24} {schedule:<16} {state.state:<9} last success {last}")
