"""`python manage.py sandbox_reset`: start the simulated providers afresh for every process of this deployment."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from pulse.services.providers import sandbox_world


class Command(BaseCommand):
    help = (
        "Reset the sandbox providers' world (ESIM_SANDBOX_STATE) to the demo dataset: no top-ups, no "
        "bought eSIMs, no issued tokens. Every process that shares the world sees the reset at its next call."
    )

    def handle(self, *args, **options):
        if not settings.ESIM_SANDBOX:
            raise CommandError(
                "ESIM_SANDBOX is off: the providers are real and there is no sandbox to reset."
            )
        world = sandbox_world()
        world.reset()
        if world.state_path is None:
            self.stdout.write(
                self.style.WARNING(
                    "ESIM_SANDBOX_STATE=memory: every process has its own world; this reset only reached "
                    "this command's. Restart the other processes to reset theirs."
                )
            )
            return
        self.stdout.write(self.style.SUCCESS(f"Sandbox world reset for every process: {world.state_path}"))
        self.stdout.write(
            "Cached status answers may show the old state until they expire; check with --fresh."
        )
