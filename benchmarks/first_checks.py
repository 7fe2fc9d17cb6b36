"""Regimes measured from the first request after a start (docs/performance.md), per eSIM owner.

- cold:    fresh gunicorn processes, empty shared cache, empty `pulse_knownesim`: the first check of an
           eSIM ever (nothing known, no tokens, no indexes);
- restart: fresh gunicorn processes and an empty shared cache, the database kept: what a deploy that
           also lost Redis costs (tokens, indexes and remembered misses gone, known eSIMs remembered);
- large:   the 10,000-eSIM / 10,000-order account from its first check after a start (fresh processes,
           empty cache and table), every check recorded, no priming; plus how many list pages and
           order lists the providers were asked for (walks).

Every sample is one request over a new keep-alive connection, wall time at the client.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import infra
from loadgen import CheckClient, Sample, summarize
from stats import by_label, sample_problems, stats_delta

ESIMCARD_PAGE_SIZE = 20  # the simulator's (and eSIMCard's) my-esims page size


def fresh_server(bench, server: infra.Gunicorn, *, forget: str | None) -> tuple[infra.Gunicorn, CheckClient]:
    """Flush the shared cache, optionally empty `pulse_knownesim` of database `forget`, restart `server`."""
    bench.backends.flush_cache()
    if forget:
        bench.backends.forget_known(forget)
    restarted = infra.restart_gunicorn(bench.procs, server, bench.logs)
    return restarted, CheckClient(restarted.url)


def first_check_per_restart(
    bench, server_attr: str, iccids: list[str], *, forget: str | None
) -> tuple[list[Sample], list[dict[str, Any]]]:
    """For each ICCID: a fresh start of the server, then its first check. Returns samples and stats deltas."""
    samples, deltas = [], []
    sandbox = bench.small
    for iccid in iccids:
        server, client = fresh_server(bench, getattr(bench, server_attr), forget=forget)
        setattr(bench, server_attr, server)
        before = sandbox.stats()
        try:
            samples.append(client.check(iccid))
        finally:
            client.close()
        deltas.append(stats_delta(before, sandbox.stats()))
    return samples, deltas


def large_from_start(bench, labels: dict[str, str], rounds: int) -> dict[str, Any]:
    """The large account from its first check after a start: every check, per owner, and the walks."""
    server, client = fresh_server(bench, bench.c, forget=bench.db_large)
    bench.c = server
    before = bench.large.stats()
    samples: list[Sample] = []
    try:
        for _ in range(rounds):
            for iccid in labels:
                samples.append(client.check(iccid))
    finally:
        client.close()
    time.sleep(1.0)  # background walks still running are counted too
    delta = stats_delta(before, bench.large.stats())
    pages = math.ceil((bench.args.large + 10) / ESIMCARD_PAGE_SIZE)  # + the demo eSIMs
    list_pages = delta["routes"].get("esimcard /my-esims", 0)
    order_lists = delta["routes"].get("airhub /api/ESIM/GetOrderDetail", 0)
    first = {labels[s.iccid]: round(s.ms, 1) for s in samples[: len(labels)]}
    return {
        "rounds": rounds,
        "samples": [
            {"iccid": s.iccid, "ms": round(s.ms, 1), "status": s.status, "sources": s.sources}
            for s in samples
        ],
        "by_provider": by_label(samples, labels, bench.rtt),
        "first_check_ms": first,
        "esimcard_list_pages": list_pages,
        "esimcard_pages_per_walk": pages,
        "esimcard_full_walks": round(list_pages / pages, 2),
        "airhub_order_list_requests": order_lists,
        "routes": delta["routes"],
        "problems": sample_problems(samples, expect_cached=False),
    }


def per_owner_table(rows: list[tuple[str, dict[str, dict[str, Any]]]], owners: list[str]) -> list[str]:
    """Lines of a table: one row per regime, p50 / p95 ms per owner."""
    width = 20
    lines = ["   " + f"{'regime':<44}" + "".join(f"{o:>{width}}" for o in owners)]
    lines.append("   " + " " * 44 + "".join(f"{'p50 / p95 ms (n)':>{width}}" for _ in owners))
    for label, groups in rows:
        cells = []
        for owner in owners:
            g = groups.get(owner) or {}
            if g.get("p50_ms") is None:
                cells.append(f"{'-':>{width}}")
                continue
            text = f"{g['p50_ms']:.0f} / {g['p95_ms']:.0f} ({g['n']})"
            if g.get("failed"):
                text += f" {g['failed']}x!"
            cells.append(f"{text:>{width}}")
        lines.append("   " + f"{label:<44}" + "".join(cells))
    return lines


def summary_of(
    samples: list[Sample], rtt: float, ok: Callable[[Sample], bool] = lambda s: s.status == 200
) -> dict[str, Any]:
    return summarize([s.ms for s in samples if ok(s)], rtt)
