"""Provider list indexes rebuilt off the request path (docs/status.md, "Indexes").

`rebuild_provider_indexes()` asks every enabled provider client that keeps an index (eSIMCard's ICCID
index, AirHub's recent-orders and order-history indexes) to rebuild what is absent or stale, or
everything with `force=True`. The scheduler runs it as the `esim_index` job (Celery beat,
`pulse.services.jobs`), cron users run `manage.py rebuild_indexes`; a stale index also starts its own
background rebuild when a lookup meets it. Each rebuild is single-flight across workers, so overlapping
runs cost one walk.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from providers.errors import ProviderError
from pulse.services.providers import enabled_clients

logger = logging.getLogger(__name__)


def rebuild_provider_indexes(*, force: bool = False) -> dict[str, Any]:
    """Per provider: what was rebuilt (`{index: {"rebuilt", "entries", ...}}`) or `{"error": code}`."""
    report: dict[str, Any] = {}
    for name, client in enabled_clients().items():
        rebuild = getattr(client, "rebuild_indexes", None)
        if rebuild is None:
            continue  # keyed by ICCID (TravelRoam): nothing to index
        report[name] = _rebuild_one(name, rebuild, force)
    return report


def _rebuild_one(name: str, rebuild, force: bool) -> dict[str, Any]:
    started = time.monotonic()
    try:
        result = rebuild(force=force)
    except ProviderError as exc:
        logger.warning("%s index rebuild failed: %s", name, exc.code, extra={"provider": name})
        return {"error": exc.code}
    logger.info(
        "%s indexes checked in %.1f s: %s",
        name,
        time.monotonic() - started,
        ", ".join(
            f"{index} {'rebuilt' if r['rebuilt'] else 'fresh'} ({r['entries']})"
            for index, r in result.items()
        ),
        extra={"provider": name},
    )
    return result


def report_lines(report: dict[str, Any]) -> list[tuple[str, bool]]:
    """(line, ok) per index ("esimcard esims: rebuilt, 3 entries"), or per provider whose rebuild failed."""
    lines = []
    for provider, result in report.items():
        if "error" in result:
            lines.append((f"{provider}: failed ({result['error']})", False))
            continue
        for index, outcome in result.items():
            state = "rebuilt" if outcome["rebuilt"] else "fresh"
            lines.append((f"{provider} {index}: {state}, {outcome['entries']} entries", True))
    return lines
