"""`python manage.py provider_smoke`: per provider — configured?, auth ok?, latency of one cheap call.

With `--record DIR [--iccid ICCID ...]` it records the raw answers of the read-only endpoints instead
(see `_record.py` and docs/providers.md, "How to contribute a recording").
"""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from providers.base import PROVIDER_NAMES
from providers.errors import ProviderError
from pulse.management.commands._record import add_record_arguments, record
from pulse.services.providers import breaker, enabled_clients, record_outcome


class Command(BaseCommand):
    help = "Probe each provider once (a login or a catalogue read, never a paid call) and report."

    def add_arguments(self, parser):
        add_record_arguments(parser)

    def handle(self, *args, **options):
        if options.get("record"):
            record(self, options)
            return
        clients = enabled_clients()
        mode = "sandbox simulators" if settings.ESIM_SANDBOX else "live endpoints"
        self.stdout.write(f"providers ({mode}):")
        failures = 0
        for name in PROVIDER_NAMES:
            client = clients.get(name)
            if client is None:
                self.stdout.write(f"  {name:<11} not configured (set its credentials to enable it)")
                continue
            breaker_text = _breaker_text(name)
            started = time.monotonic()
            try:
                client.probe()
            except ProviderError as exc:
                failures += 1
                record_outcome(name, exc)
                elapsed = (time.monotonic() - started) * 1000
                self.stdout.write(
                    self.style.ERROR(
                        f"  {name:<11} FAILED {exc.code}: {exc.message} ({elapsed:.0f} ms), {breaker_text}"
                    )
                )
                continue
            record_outcome(name, None)
            elapsed = (time.monotonic() - started) * 1000
            self.stdout.write(
                self.style.SUCCESS(f"  {name:<11} ok, auth ok, {elapsed:.0f} ms, {breaker_text}")
            )
        if failures:
            self.stderr.write(f"{failures} provider(s) failed")
            raise SystemExit(1)


def _breaker_text(name: str) -> str:
    """The breaker as staff read it: "breaker half-open (5 failures)". Read before the probe, which
    goes straight to the provider and does not move the breaker."""
    circuit = breaker(name)
    failures = circuit.failures()
    return f"breaker {circuit.state().replace('_', '-')} ({failures} failure{'' if failures == 1 else 's'})"
