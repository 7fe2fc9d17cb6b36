"""`python manage.py find_bundle "eSIM, 1GB, 7 Days, Turkey, V2" [--country TR] [--provider travelroam]
[--code esim_1GB_7D_TR_V2]`: which catalogue bundle renews this plan, and why (docs/matching.md).

Reads the provider's synced `Bundle` rows; when the provider has none yet, fetches its catalogue live
(the sandbox simulators under ESIM_SANDBOX=true) and says so. Exit code 1 when nothing matches.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from providers.base import PROVIDER_NAMES, TRAVELROAM
from providers.countries import iso_for_name
from providers.errors import ProviderError
from providers.plans import parse_plan_name
from pulse.models import Bundle
from pulse.services.matching import (
    MAX_ALTERNATIVES,
    BundleMatch,
    PlanQuery,
    explain_no_match,
    match_bundles,
    resolve_plan,
)
from pulse.services.providers import provider_client, record_outcome


class Command(BaseCommand):
    help = "Match a plan name to the provider's catalogue: the same-plan bundle and bigger alternatives."

    def add_arguments(self, parser):
        parser.add_argument("plan_name", help='the current plan, e.g. "eSIM, 1GB, 7 Days, Turkey, V2"')
        parser.add_argument("--country", default="", help="ISO country code of the eSIM, e.g. TR")
        parser.add_argument("--provider", default=TRAVELROAM, choices=PROVIDER_NAMES)
        parser.add_argument("--code", default="", help="the provider's bundle code of the current plan")
        parser.add_argument(
            "--alternatives", type=int, default=MAX_ALTERNATIVES, help="how many alternatives to list"
        )

    def handle(self, *args, plan_name: str, country: str, provider: str, code: str, **options):
        country_code = ""
        if country.strip():
            country_code = iso_for_name(country) or ""
            if not country_code:
                raise CommandError(f"unknown country {country!r}: give an ISO code such as TR")
        plan = PlanQuery(
            provider=provider, plan_name=plan_name, plan_code=code.strip(), country_code=country_code
        )
        self.stdout.write(f"plan name:   {plan_name!r}")
        self.stdout.write(f"parsed:      {parse_plan_name(plan_name).describe()}")
        if plan.plan_code:
            self.stdout.write(f"plan code:   {plan.plan_code} ({parse_plan_name(plan.plan_code).describe()})")
        resolved = resolve_plan(plan)
        sources = "; ".join(f"{fact} from {source}" for fact, source in resolved.sources.items())
        self.stdout.write(f"matching on: {resolved.describe()}" + (f" ({sources})" if sources else ""))
        bundles = self._catalogue(provider)
        matches = match_bundles(plan=plan, bundles=bundles, max_alternatives=options["alternatives"])
        explanation = explain_no_match(plan=plan, bundles=bundles)
        if not matches:
            self.stdout.write(self.style.ERROR(f"no match: {explanation}"))
            raise SystemExit(1)
        self._print_matches(matches, explanation)

    def _catalogue(self, provider: str) -> list[Any]:
        rows = list(Bundle.objects.filter(provider=provider))
        if rows:
            active = sum(1 for row in rows if row.active)
            self.stdout.write(
                f"catalogue:   {active} active of {len(rows)} {provider} bundles in the database"
            )
            return rows
        client = provider_client(provider)
        if client is None:
            raise CommandError(
                f"no {provider} bundles in the database and {provider} is not configured "
                "(set its credentials, or ESIM_SANDBOX=true)"
            )
        try:
            bundles = client.catalogue()
        except ProviderError as exc:
            record_outcome(provider, exc)
            raise CommandError(
                f"could not fetch the {provider} catalogue: {exc.code}: {exc.message}"
            ) from exc
        record_outcome(provider, None)
        source = "the sandbox simulator" if settings.ESIM_SANDBOX else "the live API"
        self.stdout.write(
            f"catalogue:   no {provider} bundles in the database yet; "
            f"fetched {len(bundles)} live from {source}"
        )
        return bundles

    def _print_matches(self, matches: list[BundleMatch], explanation: str) -> None:
        same = [match for match in matches if match.same_plan]
        if same:
            self.stdout.write(self.style.SUCCESS(f"same plan:   {_label(same[0].bundle)}"))
            self._print_reasons(same[0])
        else:
            self.stdout.write(self.style.WARNING(f"same plan:   none ({explanation})"))
        alternatives = [match for match in matches if not match.same_plan]
        self.stdout.write(f"alternatives ({len(alternatives)}):" if alternatives else "alternatives: none")
        for number, match in enumerate(alternatives, start=1):
            self.stdout.write(f"  {number}. {_label(match.bundle)}")
            self._print_reasons(match)

    def _print_reasons(self, match: BundleMatch) -> None:
        for reason in match.reasons:
            self.stdout.write(f"       - {reason}")


def _label(bundle: Any) -> str:
    cost = getattr(bundle, "cost", None)
    currency = getattr(bundle, "currency", None) or getattr(bundle, "cost_currency", "")
    price = f", cost {cost} {currency}".rstrip() if cost is not None else ""
    description = bundle.description or "(no description)"
    return f"{bundle.code}  {description!r}{price}"
