"""The status check: ask every enabled provider at once, merge, cache (docs/status.md).

Flow: cached answer? → where the eSIM lives (known references, remembered misses) → concurrent lookups
bounded by STATUS_DEADLINE → remember where the eSIM was found → merge → present → cache; providers
still searching when the answer is ready finish after it, and their results are merged then.
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from providers.base import AIRHUB, PROVIDER_NAMES
from providers.breaker import CircuitBreaker, GuardedClient
from providers.errors import ProviderNotFound
from providers.fanout import ProviderOutcome, fan_out
from providers.iccid import IccidError, mask_iccid, validate_iccid
from providers.merge import merge_records
from pulse.exceptions import EsimNotFound, InvalidIccid, ProvidersUnavailable
from pulse.metrics import observe_status_cache
from pulse.services.esim_routes import Route, load_route_with, record_outcomes
from pulse.services.providers import enabled_clients, record_outcome
from pulse.services.safe_cache import safe_cache as cache
from pulse.services.status_format import present_status, with_ages

logger = logging.getLogger(__name__)

STATUS_KEY = "status:v1:{iccid}"
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
        return {
            **self.public,
            "source_details": with_ages(self.public["source_details"]),
            "cached": self.cached,
        }


def clean_iccid(raw: object) -> str:
    try:
        return validate_iccid(raw, require_luhn=settings.ICCID_REQUIRE_LUHN)
    except IccidError as exc:
        raise InvalidIccid(str(exc), details=str(exc)) from exc


def esim_status_check(*, iccid: str, use_cache: bool = True) -> StatusResult:
    """The unified status of one eSIM. Raises EsimNotFound or ProvidersUnavailable."""
    iccid = clean_iccid(iccid)
    if use_cache and settings.STATUS_CACHE_SECONDS > 0:
        cached = _cached(iccid)
        observe_status_cache(hit=cached is not None)
        if cached is not None:
            return cached
    clients = enabled_clients()
    # The route and the breakers' states in one cache round trip (each breaker would read its own).
    breakers = {name: client.breaker for name, client in clients.items() if isinstance(client, GuardedClient)}
    route, states = load_route_with(iccid, [breaker.state_key for breaker in breakers.values()])
    breaker_states = {name: CircuitBreaker.entry_of(states.get(b.state_key)) for name, b in breakers.items()}
    late = _LateMerge(iccid, route)
    outcomes = _ask_providers(iccid, route, clients, breaker_states, on_late=late.finish)
    record_outcomes(iccid, route, outcomes)
    found = {name: outcome.record for name, outcome in outcomes.items() if outcome.record is not None}
    if not found:
        late.cancel()
        raise _nothing_found(iccid, outcomes)
    result = _result(iccid, outcomes)
    late.answered(outcomes, _store(iccid, result))
    logger.info(
        "status of %s from %s: %s",
        mask_iccid(iccid),
        result.renewal.provider,
        result.public["status_code"],
        extra={"iccid": mask_iccid(iccid), "provider": result.renewal.provider},
    )
    return result


def _result(iccid: str, outcomes: dict[str, ProviderOutcome]) -> StatusResult:
    found = {name: outcome.record for name, outcome in outcomes.items() if outcome.record is not None}
    merged = merge_records(iccid, found)
    return StatusResult(
        public=present_status(merged, outcomes, now=timezone.now()), renewal=_renewal_facts(merged)
    )


def _ask_providers(
    iccid: str, route: Route, clients: dict, breaker_states: dict[str, dict | None], *, on_late
) -> dict[str, ProviderOutcome]:
    calls: dict = {}
    skipped = {
        name: ProviderOutcome(name, skipped="not_configured")
        for name in PROVIDER_NAMES
        if name not in clients
    }
    for name, client in clients.items():
        reference = route.reference(name)
        proved = route.missing_since(name) if reference is None else None
        if proved is not None:
            skipped[name] = ProviderOutcome(
                name,
                error=ProviderNotFound(name, "remembered: not at this provider"),
                skipped="remembered",
                as_of=datetime.fromtimestamp(proved, UTC),
            )
            continue
        if name in breaker_states:
            calls[name] = partial(
                client.lookup, iccid, reference=reference, breaker_state=breaker_states[name]
            )
        else:
            calls[name] = partial(client.lookup, iccid, reference=reference)
    outcomes = fan_out(
        calls,
        deadline=settings.STATUS_DEADLINE,
        grace=settings.STATUS_GRACE_SECONDS,
        searching={name for name in calls if route.reference(name) is None},
        search_grace=settings.STATUS_SEARCH_GRACE_SECONDS,
        on_late=on_late,
    )
    for name, outcome in outcomes.items():
        if outcome.skipped is None:
            record_outcome(name, outcome.error)
    outcomes.update(skipped)
    return dict(sorted(outcomes.items()))


class _LateMerge:
    """Finishes a check after its answer went out: providers that were still searching (or late) are
    remembered, and their records merged into the cached answer, so no field a provider holds is lost.

    Runs in the "late" pool. It waits until the request thread has stored its answer, and replaces the
    cached answer only while that answer is still the one stored (a top-up may have dropped it since).
    """

    def __init__(self, iccid: str, route: Route) -> None:
        self._iccid = iccid
        self._route = route
        self._early: dict[str, ProviderOutcome] = {}
        self._stored: str | None = None
        self._ready = threading.Event()
        self._cancelled = False

    def answered(self, outcomes: dict[str, ProviderOutcome], stored: str | None) -> None:
        self._early, self._stored = outcomes, stored
        self._ready.set()

    def cancel(self) -> None:
        self._cancelled = True
        self._ready.set()

    def finish(self, late: dict[str, ProviderOutcome]) -> None:
        try:
            self._ready.wait(settings.STATUS_DEADLINE)
            if self._cancelled or not self._early:
                return
            record_outcomes(self._iccid, self._route, late)
            outcomes = {**self._early, **late}
            result = _result(self._iccid, outcomes)
            if self._stored is not None and _stored_answer_id(self._iccid) == self._stored:
                _store(self._iccid, result)
            logger.info(
                "late answers for %s merged: %s",
                mask_iccid(self._iccid),
                ", ".join(f"{name}: {outcome.source}" for name, outcome in late.items()),
                extra={"iccid": mask_iccid(self._iccid)},
            )
        except Exception:  # nothing to answer any more: log it, never kill the pool thread
            logger.exception("late merge for %s failed", mask_iccid(self._iccid))
        finally:
            close_old_connections()


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


def _store(iccid: str, result: StatusResult) -> str | None:
    """Cache the answer; returns its id (None when answers are not cached)."""
    if settings.STATUS_CACHE_SECONDS <= 0:
        return None
    answer_id = uuid.uuid4().hex
    payload = {"public": result.public, "renewal": asdict(result.renewal), "id": answer_id}
    cache.set(STATUS_KEY.format(iccid=iccid), payload, settings.STATUS_CACHE_SECONDS)
    return answer_id


def _stored_answer_id(iccid: str) -> str | None:
    payload = cache.get(STATUS_KEY.format(iccid=iccid))
    return payload.get("id") if isinstance(payload, dict) else None


def _cached(iccid: str) -> StatusResult | None:
    payload = cache.get(STATUS_KEY.format(iccid=iccid))
    if not payload:
        return None
    return StatusResult(public=payload["public"], renewal=RenewalFacts(**payload["renewal"]), cached=True)


def cached_status(iccid: str) -> StatusResult | None:
    """The cached answer, if any, without asking a provider (the alert scanner spends its provider
    budget only on eSIMs whose answer is not cached)."""
    if settings.STATUS_CACHE_SECONDS <= 0:
        return None
    return _cached(clean_iccid(iccid))


def forget_status(iccid: str) -> None:
    """Drop the cached answer (after a top-up the old usage is wrong)."""
    cache.delete(STATUS_KEY.format(iccid=iccid))
