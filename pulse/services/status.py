"""The status check: ask every enabled provider at once, merge, cache (docs/status.md).

Flow: cached answer? → known references (KnownEsim) and remembered "not found"s → concurrent lookups
bounded by STATUS_DEADLINE → remember where the eSIM was found → merge → present → cache.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from providers.base import AIRHUB, PROVIDER_NAMES, EsimRecord
from providers.errors import ProviderNotFound
from providers.fanout import ProviderOutcome, fan_out
from providers.iccid import IccidError, mask_iccid, validate_iccid
from providers.merge import merge_records
from pulse.exceptions import EsimNotFound, InvalidIccid, ProvidersUnavailable
from pulse.models import KnownEsim
from pulse.services.providers import enabled_clients, record_outcome
from pulse.services.safe_cache import safe_cache as cache
from pulse.services.status_format import present_status

logger = logging.getLogger(__name__)

STATUS_KEY = "status:v1:{iccid}"
NOT_FOUND_KEY = "status:notfound:{provider}:{iccid}"
ALL_DOWN_RETRY_AFTER = 30


@dataclass(frozen=True)
class RenewalFacts:
    """What renewal needs to know about the eSIM's current plan, re-derived server-side."""

    provider: str
    esim_reference: str
    plan_name: str
    plan_code: str
    country_code: str
    data_bytes: int | None
    unlimited: bool
    duration_days: int | None
    status_code: str
    airhub_reference: str = ""


@dataclass(frozen=True)
class StatusResult:
    public: dict
    renewal: RenewalFacts
    cached: bool = False

    def answer(self) -> dict:
        return {**self.public, "cached": self.cached}


def clean_iccid(raw: object) -> str:
    try:
        return validate_iccid(raw, require_luhn=settings.ICCID_REQUIRE_LUHN)
    except IccidError as exc:
        raise InvalidIccid(str(exc), details=str(exc)) from exc


def esim_status_check(*, iccid: str, use_cache: bool = True) -> StatusResult:
    """The unified status of one eSIM. Raises EsimNotFound or ProvidersUnavailable."""
    iccid = clean_iccid(iccid)
    if use_cache:
        cached = _cached(iccid)
        if cached is not None:
            return cached
    known = {row.provider: row for row in KnownEsim.objects.filter(iccid=iccid)}
    outcomes = _ask_providers(iccid, {name: row.reference for name, row in known.items()})
    found = {name: outcome.record for name, outcome in outcomes.items() if outcome.record is not None}
    _remember(iccid, outcomes, known)
    if not found:
        raise _nothing_found(iccid, outcomes)
    merged = merge_records(iccid, found)
    now = timezone.now()
    result = StatusResult(public=present_status(merged, outcomes, now=now), renewal=_renewal_facts(merged))
    _store(iccid, result)
    logger.info(
        "status of %s from %s: %s",
        mask_iccid(iccid),
        merged.provider,
        result.public["status_code"],
        extra={"iccid": mask_iccid(iccid), "provider": merged.provider},
    )
    return result


def _ask_providers(iccid: str, known: dict[str, str]) -> dict[str, ProviderOutcome]:
    clients = enabled_clients()
    calls: dict = {}
    skipped = {
        name: ProviderOutcome(name, skipped="not_configured")
        for name in PROVIDER_NAMES
        if name not in clients
    }
    for name, client in clients.items():
        reference = known.get(name)
        if reference is None and cache.get(NOT_FOUND_KEY.format(provider=name, iccid=iccid)):
            skipped[name] = ProviderOutcome(
                name, error=ProviderNotFound(name, "remembered: not at this provider"), skipped="remembered"
            )
            continue
        calls[name] = partial(client.lookup, iccid, reference=reference)
    outcomes = fan_out(calls, deadline=settings.STATUS_DEADLINE, grace=settings.STATUS_GRACE_SECONDS)
    for name, outcome in outcomes.items():
        record_outcome(name, outcome.error)
    outcomes.update(skipped)
    return dict(sorted(outcomes.items()))


def _remember(iccid: str, outcomes: dict[str, ProviderOutcome], known: dict[str, KnownEsim]) -> None:
    """Persist where the eSIM lives; forget stale references; remember definite misses.

    Writes only what changed, so a warm check of a known eSIM costs no database write.
    """
    for name, outcome in outcomes.items():
        row = known.get(name)
        if outcome.record is not None:
            record = outcome.record
            if row is None or (row.reference, row.last_status) != (record.reference, record.status.value):
                _save_known(record)
        elif outcome.not_found and outcome.skipped is None:
            cache.set(
                NOT_FOUND_KEY.format(provider=name, iccid=iccid),
                True,
                settings.STATUS_NOT_FOUND_CACHE_SECONDS,
            )
            if row is not None:
                row.delete()


def _save_known(record: EsimRecord) -> None:
    values = {
        "reference": record.reference,
        "last_status": record.status.value,
        "plan_name": (record.plan_name or "")[:200],
    }
    try:
        with transaction.atomic():
            KnownEsim.objects.update_or_create(iccid=record.iccid, provider=record.provider, defaults=values)
    except IntegrityError:  # a concurrent check inserted it first; its row is as good as ours
        KnownEsim.objects.filter(iccid=record.iccid, provider=record.provider).update(**values)


def _nothing_found(iccid: str, outcomes: dict[str, ProviderOutcome]) -> Exception:
    sources = ", ".join(f"{name}: {outcome.source}" for name, outcome in outcomes.items())
    asked = [outcome for outcome in outcomes.values() if outcome.skipped != "not_configured"]
    if asked and all(outcome.not_found for outcome in asked):
        return EsimNotFound(
            "eSIM not found.",
            details=f"No provider knows ICCID {iccid}. Check the number on the eSIM's packaging or e-mail.",
        )
    retry_after = max(
        [ALL_DOWN_RETRY_AFTER]
        + [int(o.error.retry_after) for o in outcomes.values() if o.error is not None and o.error.retry_after]
    )
    logger.warning("no provider could answer for %s (%s)", mask_iccid(iccid), sources)
    return ProvidersUnavailable(
        "No eSIM provider could answer right now; please try again shortly.",
        details=f"Provider outcomes: {sources}." if asked else "No provider is configured.",
        retry_after=retry_after,
    )


def _renewal_facts(merged) -> RenewalFacts:
    primary = merged.primary
    usage = primary.usage
    airhub = merged.records.get(AIRHUB)
    return RenewalFacts(
        provider=primary.provider,
        esim_reference=primary.reference,
        plan_name=merged.first("plan_name") or "",
        plan_code=primary.plan_code or "",
        country_code=merged.first("country_code") or "",
        data_bytes=usage.capacity_bytes if usage else None,
        unlimited=bool(usage and usage.unlimited),
        duration_days=merged.first("validity_days"),
        status_code=primary.status.value,
        airhub_reference=airhub.reference if airhub else "",
    )


def _store(iccid: str, result: StatusResult) -> None:
    if settings.STATUS_CACHE_SECONDS <= 0:
        return
    payload = {"public": result.public, "renewal": asdict(result.renewal)}
    cache.set(STATUS_KEY.format(iccid=iccid), payload, settings.STATUS_CACHE_SECONDS)


def _cached(iccid: str) -> StatusResult | None:
    payload = cache.get(STATUS_KEY.format(iccid=iccid))
    if not payload:
        return None
    return StatusResult(public=payload["public"], renewal=RenewalFacts(**payload["renewal"]), cached=True)


def forget_status(iccid: str) -> None:
    """Drop the cached answer (after a top-up the old usage is wrong)."""
    cache.delete(STATUS_KEY.format(iccid=iccid))
