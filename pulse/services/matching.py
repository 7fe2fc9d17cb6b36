"""Which catalogue bundles can renew an eSIM's current plan: the same plan, and bigger alternatives.

Replaces the original `travelroam_find_matching_bundle` (providers.md §6.1), whose substring tests let
"1GB" match `11GB`, "7D" match `17D`, an empty description match every plan, and a missing country
match any country. Here facts are compared, never substrings (rules and every fixed bug:
docs/matching.md):

- same provider only, active bundles only;
- the bundle must COVER the plan's country (query country, else plan code, else plan name), by its
  own country list or, when it lists none, through its region; no country -> nothing, explained;
- the same plan = same data (or both unlimited) AND same duration; an exact plan-code hit wins;
- alternatives never have less data or a shorter duration, ranked by closeness, capped.

Pure: no database, no provider calls. Anything with the `BundleLike` attributes can be matched
(`pulse.models.Bundle` rows and `providers.base.CatalogBundle`s).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from providers.countries import iso_for_name, normalise
from providers.plans import (
    UNTHROTTLED,
    BundleFacts,
    BundleLike,
    PlanSpec,
    bundle_facts,
    describe_data,
    describe_days,
    parse_bundle_code,
    parse_plan_name,
)

logger = logging.getLogger(__name__)

MAX_ALTERNATIVES = 5
# eSIMCard reports binary units (a 10**9-byte plan shows as 0.9313 GB, providers.md §4.3), so a GB and
# a GiB of the same nominal plan differ by 7.4%. No two real plan sizes are that close (500 MB, 1, 2,
# 3, 5, 10, 20 GB...), so amounts within 8% are "the same data".
_SAME_DATA_RATIO = 1.08


@dataclass(frozen=True)
class PlanQuery:
    """The eSIM's CURRENT plan, as re-derived server-side from the status check (never the client)."""

    provider: str
    plan_name: str = ""
    plan_code: str = ""  # the provider's own bundle code of the current plan: the strongest signal
    country_code: str = ""
    data_bytes: int | None = None
    unlimited: bool = False
    duration_days: int | None = None


@dataclass(frozen=True)
class BundleMatch:
    bundle: Any
    same_plan: bool
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ResolvedPlan:
    """The plan's facts after precedence (query field > plan code > plan name), with where each came from."""

    data_bytes: int | None
    unlimited: bool
    days: int | None
    countries: frozenset[str]
    variant: str | None
    tier: str | None
    region: str | None
    sources: dict[str, str]
    problem: str = ""  # why no country could be used, when that is the case

    def describe(self) -> str:
        where = ", ".join(sorted(self.countries)) or "no country"
        parts = [describe_data(self.data_bytes, self.unlimited, self.tier), describe_days(self.days), where]
        parts += [f"region {self.region}"] if self.region else []
        parts += [self.variant] if self.variant else []
        return ", ".join(parts)


def resolve_plan(plan: PlanQuery) -> ResolvedPlan:
    """The current plan's facts: each from the query field, else the plan code, else the plan name."""
    by_code = parse_bundle_code(plan.plan_code) if plan.plan_code.strip() else PlanSpec()
    by_name = parse_plan_name(plan.plan_name)
    sources: dict[str, str] = {}
    unlimited = plan.unlimited or (plan.data_bytes is None and (by_code.unlimited or by_name.unlimited))
    data = (
        None
        if unlimited
        else _first(sources, "data", plan.data_bytes, by_code.data_bytes, by_name.data_bytes)
    )
    if unlimited:
        sources["data"] = "query" if plan.unlimited else ("plan code" if by_code.unlimited else "plan name")
    days = _first(sources, "duration", plan.duration_days, by_code.days, by_name.days)
    countries, problem = _plan_countries(plan, by_code, by_name, sources)
    return ResolvedPlan(
        data_bytes=data,
        unlimited=unlimited,
        days=days,
        countries=countries,
        variant=by_code.variant or by_name.variant,
        tier=by_code.tier or by_name.tier,
        region=by_code.region or by_name.region,
        sources=sources,
        problem=problem,
    )


def _first(sources: dict[str, str], fact: str, *values: int | None) -> int | None:
    for source, value in zip(("query", "plan code", "plan name"), values, strict=True):
        if value is not None and value > 0:
            sources[fact] = source
            return value
    return None


def _plan_countries(
    plan: PlanQuery, by_code: PlanSpec, by_name: PlanSpec, sources: dict[str, str]
) -> tuple[frozenset[str], str]:
    if plan.country_code.strip():
        code = iso_for_name(plan.country_code)
        if code is None:  # never fall back to another source: that could pick another country
            return frozenset(), f"unknown country code {plan.country_code.strip()!r}"
        sources["country"] = "country code"
        return frozenset({code}), ""
    for source, spec in (("plan code", by_code), ("plan name", by_name)):
        if spec.countries:
            sources["country"] = source
            return frozenset(spec.countries), ""
    region = by_code.region or by_name.region
    named = f"the plan names the region {region} but no country" if region else "no country in the plan"
    return frozenset(), f"{named}: pass the eSIM's country code"


@dataclass
class _Analysis:
    plan: ResolvedPlan
    provider_bundles: int = 0
    active: list[tuple[Any, BundleFacts]] = field(default_factory=list)
    covering: list[tuple[Any, BundleFacts]] = field(default_factory=list)
    exact: Any = None
    same: tuple[Any, BundleFacts] | None = None


def _analyse(plan: PlanQuery, bundles: Iterable[BundleLike]) -> _Analysis:
    provider = plan.provider.strip().lower()
    mine = [b for b in bundles if str(b.provider).strip().lower() == provider]
    analysis = _Analysis(plan=resolve_plan(plan), provider_bundles=len(mine))
    analysis.active = [(b, bundle_facts(b)) for b in mine if getattr(b, "active", True)]
    code = plan.plan_code.strip()
    exact = next(((b, f) for b, f in analysis.active if code and b.code == code), None)
    resolved = analysis.plan
    if exact is not None and not resolved.countries and not plan.country_code.strip():
        # The current bundle itself is in the catalogue: what it covers is what a renewal must cover.
        sources = {**resolved.sources, "country": "current bundle"}
        resolved = replace(resolved, countries=exact[1].countries, problem="", sources=sources)
    if exact is not None:
        resolved = _fill_from(resolved, exact[1])
    analysis.plan = resolved
    if not resolved.countries:
        return analysis
    analysis.covering = [(b, f) for b, f in analysis.active if resolved.countries <= f.countries]
    if exact is not None and resolved.countries <= exact[1].countries:
        analysis.exact, analysis.same = exact[0], exact
    else:
        analysis.same = _best_same_plan(resolved, analysis.covering, plan.plan_name)
    return analysis


def _fill_from(plan: ResolvedPlan, facts: BundleFacts) -> ResolvedPlan:
    """Facts the query did not give, taken from the current bundle found by its exact code."""
    if plan.unlimited or plan.data_bytes is not None:
        unlimited, data = plan.unlimited, plan.data_bytes
    else:
        unlimited, data = facts.unlimited, facts.data_bytes
    return replace(
        plan,
        unlimited=unlimited,
        data_bytes=data,
        days=plan.days if plan.days is not None else facts.days,
        variant=plan.variant or facts.variant,
        tier=plan.tier or facts.tier,
    )


def _same_data(plan: ResolvedPlan, facts: BundleFacts) -> bool:
    if plan.unlimited or facts.unlimited:
        return plan.unlimited and facts.unlimited
    if plan.data_bytes is None or facts.data_bytes is None:
        return False
    low, high = sorted((plan.data_bytes, facts.data_bytes))
    return high <= low * _SAME_DATA_RATIO


def _is_same_plan(plan: ResolvedPlan, facts: BundleFacts) -> bool:
    return plan.days is not None and facts.days == plan.days and _same_data(plan, facts)


def _best_same_plan(
    plan: ResolvedPlan, covering: list[tuple[Any, BundleFacts]], plan_name: str
) -> tuple[Any, BundleFacts] | None:
    same = [(b, f) for b, f in covering if _is_same_plan(plan, f)]
    if not same:
        return None
    name = normalise(plan_name or "")

    def preference(item: tuple[Any, BundleFacts]) -> tuple:
        bundle, facts = item
        description = normalise(bundle.description or "")
        return (
            # The plan's own variant; when it names none, the standard product before "Unthrottled".
            facts.variant != plan.variant if plan.variant else facts.variant == UNTHROTTLED,
            plan.tier is not None and facts.tier != plan.tier,
            len(facts.countries),  # a single-country bundle before a regional one
            not (name and description == name),
            bundle.code,
        )

    return min(same, key=preference)


def match_bundles(
    *, plan: PlanQuery, bundles: Iterable[BundleLike], max_alternatives: int = MAX_ALTERNATIVES
) -> list[BundleMatch]:
    """The same-plan bundle (if any) first, then up to `max_alternatives` bigger covering bundles."""
    bundles = list(bundles)
    analysis = _analyse(plan, bundles)
    resolved = analysis.plan
    matches: list[BundleMatch] = []
    if analysis.same is not None:
        bundle, facts = analysis.same
        matches.append(BundleMatch(bundle, True, _same_reasons(analysis, facts, bundle)))
    chosen = analysis.same[0] if analysis.same else None
    ranked = []
    for bundle, facts in analysis.covering:
        rank = _alternative_rank(resolved, facts)
        if bundle is not chosen and rank is not None:
            ranked.append((rank, len(facts.countries), bundle.code, bundle, facts))
    ranked.sort(key=lambda item: item[:3])
    for _, _, _, bundle, facts in ranked[: max(max_alternatives, 0)]:
        matches.append(BundleMatch(bundle, False, _alternative_reasons(resolved, facts)))
    if not matches and logger.isEnabledFor(logging.DEBUG):
        logger.debug("no bundle matched: %s", explain_no_match(plan=plan, bundles=bundles))
    return matches


def _data_key(facts: BundleFacts) -> float:
    return float("inf") if facts.unlimited else float(facts.data_bytes or 0)


def _alternative_rank(plan: ResolvedPlan, facts: BundleFacts) -> tuple[int, float, int] | None:
    """(category, data, days) or None when not an alternative. Categories: 0 same data and duration
    (another variant), 1 same duration more data, 2 same data longer, 3 more data and longer."""
    if plan.days is None or not facts.comparable or facts.days < plan.days:
        return None
    if not (plan.unlimited or plan.data_bytes is not None):
        return None
    same_data = _same_data(plan, facts)
    if not same_data and (plan.unlimited or _data_key(facts) < (plan.data_bytes or 0)):
        return None  # never less data
    longer = facts.days > plan.days
    category = (2 if longer else 0) if same_data else (3 if longer else 1)
    return category, _data_key(facts), facts.days


def _coverage_reason(plan: ResolvedPlan, facts: BundleFacts) -> str:
    covered = ", ".join(sorted(plan.countries))
    if len(facts.countries) > len(plan.countries):
        label = facts.region or "multi-country"
        return f"covers {covered} (regional bundle: {label}, {len(facts.countries)} countries)"
    return f"covers {covered}"


def _data_reason(plan: ResolvedPlan, facts: BundleFacts) -> str:
    if _same_data(plan, facts):
        if plan.unlimited:
            return f"both unlimited{f' ({facts.tier})' if facts.tier else ''}"
        return f"same data {describe_data(facts.data_bytes)}"
    return f"more data: {describe_data(facts.data_bytes, facts.unlimited, facts.tier)} vs {describe_data(plan.data_bytes)}"


def _days_reason(plan: ResolvedPlan, facts: BundleFacts) -> str:
    if facts.days == plan.days:
        return f"same duration {describe_days(facts.days)}"
    return f"longer: {describe_days(facts.days)} vs {describe_days(plan.days)}"


def _same_reasons(analysis: _Analysis, facts: BundleFacts, bundle: Any) -> list[str]:
    plan = analysis.plan
    reasons = [f"same bundle code as the current plan ({bundle.code})"] if analysis.exact is bundle else []
    reasons += [_coverage_reason(plan, facts), _data_reason(plan, facts), _days_reason(plan, facts)]
    others = [
        (b, f)
        for b, f in analysis.covering
        if b is not bundle and _is_same_plan(plan, f) and f.variant != facts.variant
    ]
    other_text = ", ".join(f"{b.code} ({f.variant or 'no variant'})" for b, f in others)
    if plan.variant and facts.variant == plan.variant:
        reasons.append(f"same variant {plan.variant}" + (f"; also sold as {other_text}" if others else ""))
    elif plan.variant:
        reasons.append(f"variant differs: {facts.variant or 'none'} (no {plan.variant} bundle for this plan)")
    elif others:
        reasons.append(f"the plan names no variant; also sold as {other_text}")
    return reasons


def _alternative_reasons(plan: ResolvedPlan, facts: BundleFacts) -> list[str]:
    reasons = [_coverage_reason(plan, facts), _data_reason(plan, facts), _days_reason(plan, facts)]
    if facts.variant and facts.variant != plan.variant and _is_same_plan(plan, facts):
        reasons.append(f"same plan in another variant: {facts.variant}")
    return reasons


def explain_no_match(*, plan: PlanQuery, bundles: Iterable[BundleLike]) -> str:
    """Why no bundle is the same plan (and, when nothing matches at all, why not even an alternative).

    An empty string means the same-plan match exists.
    """
    analysis = _analyse(plan, list(bundles))
    resolved = analysis.plan
    provider = plan.provider or "?"
    if analysis.provider_bundles == 0:
        return f"no {provider} bundles in the catalogue"
    if not analysis.active:
        return f"none of the {analysis.provider_bundles} {provider} bundles is active"
    if not resolved.countries:
        return f"no country could be determined ({resolved.problem}); a country is never ignored"
    where = ", ".join(sorted(resolved.countries))
    if not analysis.covering:
        return f"no active {provider} bundle covers {where} ({len(analysis.active)} checked)"
    if analysis.same is not None:
        return ""
    if resolved.days is None or not (resolved.unlimited or resolved.data_bytes is not None):
        missing = "duration" if resolved.days is None else "data amount"
        return f"the plan's {missing} could not be read from its name or code, so no bundle can be compared"
    wanted = f"{describe_data(resolved.data_bytes, resolved.unlimited)}, {describe_days(resolved.days)}"
    return f"{len(analysis.covering)} active {provider} bundles cover {where}, none with the same data and duration ({wanted})"
