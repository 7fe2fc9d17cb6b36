"""Where an eSIM lives: the providers that hold it (with their references) and those proved not to.

`KnownEsim` rows are the durable record of where an eSIM was found. One shared-cache entry per ICCID
mirrors them together with the remembered misses, so a warm check reads one cache entry instead of a
database row plus a cache entry per provider. Without that entry (a flushed cache) the rows are read
again; the misses are only remembered in the cache, for STATUS_NOT_FOUND_CACHE_SECONDS.

Two checks of one ICCID that write at the same moment may lose one of the two updates of the entry;
that costs the next check a provider search, never a wrong answer (the rows stay right).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from providers.base import EsimRecord
from providers.fanout import ProviderOutcome
from pulse.models import KnownEsim
from pulse.services.safe_cache import safe_cache as cache

ROUTE_KEY = "status:route:v1:{iccid}"
ROUTE_TTL = 7 * 86400


@dataclass
class Route:
    known: dict[str, tuple[str, str]] = field(default_factory=dict)  # provider -> (reference, last status)
    missing: dict[str, float] = field(default_factory=dict)  # provider -> when its absence was proved

    def reference(self, provider: str) -> str | None:
        entry = self.known.get(provider)
        return entry[0] if entry else None

    def missing_since(self, provider: str) -> float | None:
        """When the provider was last proved not to know the eSIM, if that is still remembered."""
        proved = self.missing.get(provider)
        if proved is None or time.time() - proved >= settings.STATUS_NOT_FOUND_CACHE_SECONDS:
            return None
        return proved


def load_route_with(iccid: str, keys: Sequence[str]) -> tuple[Route, dict[str, Any]]:
    """The route, and the values of other cache `keys` read in the same round trip (absent: missing)."""
    route_key = ROUTE_KEY.format(iccid=iccid)
    if keys:
        values = cache.get_many([route_key, *keys])
        cached = values.pop(route_key, None)
    else:
        values, cached = {}, cache.get(route_key)
    if isinstance(cached, dict):
        return Route(known=dict(cached["known"]), missing=dict(cached["missing"])), values
    rows = KnownEsim.objects.filter(iccid=iccid).values_list("provider", "reference", "last_status")
    route = Route(known={provider: (reference, status) for provider, reference, status in rows})
    _store(iccid, route)
    return route, values


def record_outcomes(iccid: str, route: Route, outcomes: Mapping[str, ProviderOutcome]) -> None:
    """Persist where the eSIM was found, forget stale references, remember proved misses.

    Writes only what changed, so a warm check of a known eSIM costs no database or cache write.
    """
    changed = False
    for name, outcome in outcomes.items():
        if outcome.record is not None:
            changed |= _found(route, name, outcome.record)
        elif outcome.not_found and outcome.skipped is None:
            changed |= _proved_missing(iccid, route, name, outcome)
    if changed:
        _store(iccid, route)


def _found(route: Route, name: str, record: EsimRecord) -> bool:
    entry = (record.reference, record.status.value)
    missing = route.missing.pop(name, None) is not None
    if route.known.get(name) == entry:
        return missing
    _save_known(record)
    route.known[name] = entry
    return True


def _proved_missing(iccid: str, route: Route, name: str, outcome: ProviderOutcome) -> bool:
    if name in route.known:
        KnownEsim.objects.filter(iccid=iccid, provider=name).delete()
        del route.known[name]
    route.missing[name] = outcome.as_of.timestamp() if outcome.as_of else time.time()
    return True


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


def _store(iccid: str, route: Route) -> None:
    cache.set(ROUTE_KEY.format(iccid=iccid), {"known": route.known, "missing": route.missing}, ROUTE_TTL)


def forget_route(iccid: str) -> None:
    cache.delete(ROUTE_KEY.format(iccid=iccid))
