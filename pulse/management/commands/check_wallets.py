"""`python manage.py check_wallets`: read every provider's wallet once and print each balance and state.

The same pass as the scheduled `check_wallets` job (recorded for health and the admin): a balance below
the cheapest bundle pauses that provider's sales, enough funds resume a pause, a balance below
WALLET_WARN_BELOW warns staff once (docs/operations.md, "Provider wallets and the sales pause").
Exit code 1 when a wallet could not be read.
"""

from django.core.management.base import BaseCommand

from pulse.services import jobs
from pulse.services.wallets import WalletCheck, check_wallets


class Command(BaseCommand):
    help = "Read each provider's wallet once; print balance and sales state (pauses/resumes as needed)."

    def handle(self, *args, **options):
        results: list[WalletCheck] = []

        def run() -> jobs.JobOutcome:
            results.extend(check_wallets())
            failed = [check for check in results if check.balance is None]
            return jobs.JobOutcome(
                ok=not failed,
                detail="; ".join(check.line() for check in results)[:500],
                error="; ".join(f"{check.provider}: {check.error}" for check in failed),
            )

        outcome = jobs.run_recorded("check_wallets", run)
        if not results:
            self.stdout.write("no provider is configured: nothing to read")
        for check in results:
            style = self.style.ERROR if check.balance is None or check.paused else self.style.SUCCESS
            self.stdout.write(style(check.line()))
        if not outcome.ok:
            raise SystemExit(1)
