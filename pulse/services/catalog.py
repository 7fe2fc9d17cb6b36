"""The bundle catalogue: synced from each provider into `pulse.Bundle` (docs/catalogue.md).

A sync upserts what the provider lists and deactivates what it no longer lists. When the provider
fails — or answers with an empty catalogue while we hold bundles — the last good catalogue is kept
(stale-while-error) and the run is recorded as failed, so renewals keep working.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.db import transaction
from django.utils import timezone

from providers.base import PROVIDER_NAMES, CatalogBundle
from providers.errors import ProviderError
from pulse.models import Bundle, CatalogSync
from pulse.services.providers import enabled_clients
from pulse.services.safe_cache import safe_cache

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
_SYNCED_FIELDS = (
    "description",
    "countries",
    "region",
    "data_bytes",
    "unlimited",
    "duration_days",
    "cost",
    "cost_currency",
    "package_id",
)
LAZY_SYNC_LOCK = "catalog:lazy-sync:{provider}"
LAZY_SYNC_WAIT_SECONDS = 30
# Bundle.cost is DecimalField(max_digits=12, decimal_places=4): compare and store what the column holds,
# so a provider price with more decimals is not "changed" on every run, and skip what cannot be stored.
_COST_PLACES = Decimal("0.0001")
_MAX_COST = Decimal("1E8")
_MAX_CODE = Bundle._meta.get_field("code").max_length


@dataclass(frozen=True)
class SyncSummary:
    provider: str
    ok: bool
    added: int = 0
    changed: int = 0
    deactivated: int = 0
    unchanged: int = 0
    kept: int = 0
    error: str = ""

    def line(self) -> str:
        if self.ok:
            return (
                f"{self.provider}: {self.added} added, {self.changed} changed, "
                f"{self.deactivated} deactivated, {self.unchanged} unchanged"
            )
        return f"{self.provider}: FAILED ({self.error}); kept the last good catalogue of {self.kept} active bundles"


def catalog_sync(*, provider: str | None = None, progress: Progress | None = None) -> list[SyncSummary]:
    """Sync every enabled provider's catalogue (or one). Never raises for a provider failure."""
    clients = enabled_clients()
    if provider is not None:
        if provider not in PROVIDER_NAMES:
            raise ValueError(f"unknown provider {provider!r}; choose from {', '.join(PROVIDER_NAMES)}")
        clients = {provider: clients[provider]} if provider in clients else {}
    return [_sync_one(name, client, progress) for name, client in clients.items()]


def _sync_one(name: str, client, progress: Progress | None) -> SyncSummary:
    started = timezone.now()
    try:
        fetched = _unique_by_code(name, client.catalogue())
        if not fetched and Bundle.objects.filter(provider=name, active=True).exists():
            raise ProviderError(name, "the provider returned an empty catalogue")
    except ProviderError as exc:
        return _record_failure(name, started, f"{exc.code}: {exc.message}")
    summary = _apply(name, fetched, started, progress)
    CatalogSync.objects.create(
        provider=name,
        started_at=started,
        finished_at=timezone.now(),
        outcome=CatalogSync.Outcome.OK,
        added=summary.added,
        changed=summary.changed,
        deactivated=summary.deactivated,
        unchanged=summary.unchanged,
    )
    logger.info("catalogue sync %s", summary.line(), extra={"provider": name})
    return summary


def _record_failure(name: str, started, error: str) -> SyncSummary:
    kept = Bundle.objects.filter(provider=name, active=True).count()
    CatalogSync.objects.create(
        provider=name,
        started_at=started,
        finished_at=timezone.now(),
        outcome=CatalogSync.Outcome.FAILED,
        error=error,
    )
    summary = SyncSummary(provider=name, ok=False, kept=kept, error=error)
    logger.warning("catalogue sync %s", summary.line(), extra={"provider": name})
    return summary


def _unique_by_code(name: str, fetched: Iterable[CatalogBundle]) -> dict[str, CatalogBundle]:
    unique: dict[str, CatalogBundle] = {}
    for bundle in fetched:
        if _storable(name, bundle):
            unique.setdefault(bundle.code, bundle)  # providers sometimes list a bundle on two pages
    return unique


def _storable(name: str, bundle: CatalogBundle) -> bool:
    """False (logged) for a bundle the table cannot hold: one such row would fail the whole run
    (a negative cost breaks the check constraint; an over-long code or cost the column sizes)."""
    if 0 < len(bundle.code) <= _MAX_CODE and Decimal(0) <= bundle.cost < _MAX_COST:
        return True
    logger.warning(
        "%s bundle %r skipped: unusable code or cost %s", name, bundle.code[:_MAX_CODE], bundle.cost
    )
    return False


def _values(bundle: CatalogBundle) -> dict:
    return {
        "description": bundle.description[:255],
        "countries": sorted(set(bundle.countries)),
        "region": (bundle.region or "")[:64],
        "data_bytes": bundle.data_bytes,
        "unlimited": bundle.unlimited,
        "duration_days": bundle.duration_days,
        "cost": bundle.cost.quantize(_COST_PLACES, rounding=ROUND_HALF_UP),
        "cost_currency": bundle.currency.upper(),
        "package_id": bundle.package_id or "",
    }


@transaction.atomic
def _apply(name: str, fetched: dict[str, CatalogBundle], now, progress: Progress | None) -> SyncSummary:
    existing = {row.code: row for row in Bundle.objects.select_for_update().filter(provider=name)}
    added = changed = unchanged = 0
    to_create, to_update = [], []
    for index, (code, bundle) in enumerate(fetched.items(), start=1):
        values = _values(bundle)
        row = existing.get(code)
        if row is None:
            to_create.append(Bundle(provider=name, code=code, active=True, synced_at=now, **values))
            added += 1
        elif not row.active or any(getattr(row, field) != values[field] for field in _SYNCED_FIELDS):
            for field, value in values.items():
                setattr(row, field, value)
            row.active, row.synced_at = True, now
            to_update.append(row)
            changed += 1
        else:
            unchanged += 1
        if progress:
            progress(name, index, len(fetched))
    Bundle.objects.bulk_create(to_create, batch_size=500)
    Bundle.objects.bulk_update(to_update, [*_SYNCED_FIELDS, "active", "synced_at"], batch_size=500)
    Bundle.objects.filter(provider=name, code__in=list(fetched)).update(synced_at=now)
    deactivated = (
        Bundle.objects.filter(provider=name, active=True).exclude(code__in=list(fetched)).update(active=False)
    )
    return SyncSummary(name, True, added=added, changed=changed, deactivated=deactivated, unchanged=unchanged)


def active_bundles(provider: str) -> list[Bundle]:
    """The provider's active bundles; synced on first use so a fresh install needs no manual step."""
    rows = list(Bundle.objects.filter(provider=provider, active=True))
    if rows or provider not in enabled_clients():
        return rows
    if Bundle.objects.filter(provider=provider).exists():
        return rows  # synced before and everything is inactive: do not hammer the provider
    lock = LAZY_SYNC_LOCK.format(provider=provider)
    if safe_cache.add(lock, 1, LAZY_SYNC_WAIT_SECONDS):
        try:
            catalog_sync(provider=provider)
        finally:
            safe_cache.delete(lock)
    else:
        _wait_for_sync(provider, lock)
    return list(Bundle.objects.filter(provider=provider, active=True))


def _wait_for_sync(provider: str, lock: str) -> None:
    """Another request is running the first sync: wait for it rather than answer "no bundles"."""
    deadline = time.monotonic() + LAZY_SYNC_WAIT_SECONDS
    while time.monotonic() < deadline:
        if safe_cache.get(lock) is None or Bundle.objects.filter(provider=provider).exists():
            return
        time.sleep(0.1)
