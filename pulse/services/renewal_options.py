"""What can renew an eSIM, and at what price — always re-derived on the server.

The eSIM's current plan comes from a status lookup (never from the client); the candidates from
the synced catalogue of the provider whose status won; the prices from `pricing.quote_bundle`.
While that provider's sales are paused (pulse.services.wallets) no option is offered and
`sales_paused` says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from providers.base import StatusCode
from providers.iccid import mask_iccid
from providers.plans import parse_bundle_code, parse_plan_name
from providers.units import format_gb
from pulse.exceptions import Conflict, NotFound, ProvidersUnavailable
from pulse.models import Bundle, CatalogSync
from pulse.services import wallets
from pulse.services.catalog import active_bundles
from pulse.services.matching import BundleMatch, PlanQuery, match_bundles
from pulse.services.money import format_money, require_supported
from pulse.services.pricing import Quote, UnpriceableBundle, quote_bundle
from pulse.services.status import RenewalFacts, StatusResult, esim_status_check

logger = logging.getLogger(__name__)


class EsimNotRenewable(Conflict):
    code = "esim_not_renewable"
    default_message = "This eSIM cannot be renewed."


class NoRenewalOptions(NotFound):
    code = "no_renewal_options"
    default_message = "No renewal bundle is available for this eSIM."


@dataclass(frozen=True)
class RenewalOption:
    bundle: Bundle
    quote: Quote
    same_plan: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class RenewalOptions:
    status: StatusResult
    plan: PlanQuery
    currency: str
    options: list[RenewalOption]
    # The provider's sales are paused (its wallet ran dry): no option is offered (pulse.services.wallets).
    sales_paused: bool = False

    @property
    def same_plan(self) -> RenewalOption | None:
        return next((option for option in self.options if option.same_plan), None)


def plan_query(facts: RenewalFacts) -> PlanQuery:
    """The current plan, with the country the PLAN covers (the code or name) before where the eSIM
    was last seen (a network location can be a roaming country)."""
    parsed = (parse_bundle_code(facts.plan_code).countries if facts.plan_code else ()) or (
        parse_plan_name(facts.plan_name).countries if facts.plan_name else ()
    )
    country = parsed[0] if parsed else facts.country_code
    return PlanQuery(
        provider=facts.provider,
        plan_name=facts.plan_name,
        plan_code=facts.plan_code,
        country_code=country or "",
        data_bytes=facts.data_bytes,
        unlimited=facts.unlimited,
        duration_days=facts.duration_days,
    )


def renewal_options(*, iccid: str, currency: str) -> RenewalOptions:
    currency = require_supported(currency)
    status = esim_status_check(iccid=iccid)
    if status.renewal.status_code == StatusCode.REVOKED:
        raise EsimNotRenewable(details="The provider has revoked this eSIM; it cannot take a new bundle.")
    plan = plan_query(status.renewal)
    if wallets.is_paused(plan.provider):
        logger.info("renewal options for %s: none, %s sales are paused", mask_iccid(iccid), plan.provider)
        return RenewalOptions(status=status, plan=plan, currency=currency, options=[], sales_paused=True)
    bundles = active_bundles(plan.provider)
    if not bundles and _catalogue_never_loaded(plan.provider):
        # "No bundle renews this eSIM" would be a guess: the provider never told us what it sells.
        raise ProvidersUnavailable(
            "The renewal bundles could not be loaded right now; please try again shortly.",
            details=f"The {plan.provider} catalogue has never been loaded and its last sync failed.",
        )
    matches = match_bundles(plan=plan, bundles=bundles)
    options = [option for option in (_priced(match, currency) for match in matches) if option is not None]
    logger.info("renewal options for %s: %d at %s", mask_iccid(iccid), len(options), plan.provider)
    return RenewalOptions(status=status, plan=plan, currency=currency, options=options)


def _catalogue_never_loaded(provider: str) -> bool:
    """No bundle of this provider was ever stored, and the last attempt to load them failed."""
    if Bundle.objects.filter(provider=provider).exists():
        return False
    last = CatalogSync.objects.filter(provider=provider).order_by("-started_at").first()
    return last is not None and last.outcome == CatalogSync.Outcome.FAILED


def _priced(match: BundleMatch, currency: str) -> RenewalOption | None:
    try:
        quote = quote_bundle(match.bundle, currency)
    except UnpriceableBundle:
        logger.warning("bundle %s skipped: cannot be priced", match.bundle)
        return None
    return RenewalOption(match.bundle, quote, match.same_plan, tuple(match.reasons))


def option_dict(option: RenewalOption) -> dict:
    bundle, quote = option.bundle, option.quote
    return {
        "bundle": bundle.code,
        "name": bundle.description or bundle.code,
        "data": "Unlimited" if bundle.unlimited else format_gb(bundle.data_bytes),
        "data_bytes": bundle.data_bytes,
        "unlimited": bundle.unlimited,
        "days": bundle.duration_days,
        "countries": bundle.countries,
        "region": bundle.region or None,
        "price": str(quote.amount),
        "currency": quote.currency,
        "formatted_price": format_money(quote.amount, quote.currency),
        "same_plan": option.same_plan,
        "reasons": list(option.reasons),
    }
