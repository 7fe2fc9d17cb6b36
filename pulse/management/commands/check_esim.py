"""`python manage.py check_esim ICCID [--json] [--fresh]`: the unified status, as the API answers it."""

import json

from django.core.management.base import BaseCommand, CommandError

from pulse.exceptions import ApplicationError
from pulse.services.status import esim_status_check

DISPLAY_KEYS = [
    "iccid",
    "status",
    "plan_name",
    "api_provider",
    "order_sim_id",
    "data_capacity",
    "data_consumed",
    "data_remaining",
    "validity",
    "purchase_date",
    "activation_code",
    "apn",
    "expires_at",
    "country_code",
    "last_updated",
]


class Command(BaseCommand):
    help = "Check one eSIM across every enabled provider and print the unified answer."

    def add_arguments(self, parser):
        parser.add_argument("iccid")
        parser.add_argument("--json", action="store_true", dest="json", help="print the API's JSON answer")
        parser.add_argument("--fresh", action="store_true", help="ignore the status cache")

    def handle(self, *args, iccid, fresh: bool = False, **options):
        try:
            result = esim_status_check(iccid=iccid, use_cache=not fresh)
        except ApplicationError as exc:
            raise CommandError(f"{exc.message} ({exc.code}) {exc.details}".strip()) from exc
        answer = result.answer()
        if options["json"]:
            self.stdout.write(_dumps(answer))
            return
        width = max(len(key) for key in DISPLAY_KEYS)
        for key in DISPLAY_KEYS:
            self.stdout.write(f"{key.ljust(width)}  {answer.get(key) or 'N/A'}")
        usage = answer["usage"]
        self.stdout.write(f"{'usage bytes'.ljust(width)}  {usage}")
        for bundle in answer["bundles"]:
            self.stdout.write(
                f"{'bundle'.ljust(width)}  {bundle['name']}: {bundle['status']}, "
                f"ends {bundle['expires_at'] or 'N/A'}"
            )
        sources = ", ".join(f"{name}={value}" for name, value in answer["sources"].items())
        self.stdout.write(f"{'sources'.ljust(width)}  {sources}{'  (cached)' if answer['cached'] else ''}")


def _dumps(answer: dict) -> str:
    return json.dumps(answer, indent=2, ensure_ascii=False)
