"""Simulator counters and samples turned into the figures the benchmarks report."""

from __future__ import annotations

from collections import Counter
from typing import Any

from loadgen import Sample, summarize

PROVIDERS = ("airhub", "esimcard", "travelroam")
# The four demo eSIMs of providers/sandbox/README.md, by owner: every per-owner figure uses them.
DEMO_ESIMS = {
    "8932042000010245583": "TravelRoam",
    "8944000000000000100": "AirHub",
    "8944000000000000209": "eSIMCard",
    "8944000000000000506": "AirHub+TravelRoam",
}


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    logins = {p: after["logins"].get(p, 0) - before["logins"].get(p, 0) for p in ("airhub", "esimcard")}
    requests_by_provider = {}
    by_route: dict[str, int] = {}
    for provider in PROVIDERS:
        old = before["requests"].get(provider, {})
        new = after["requests"].get(provider, {})
        total = 0
        for route, count in new.items():
            diff = count - old.get(route, 0)
            if diff:
                by_route[f"{provider} {route}"] = diff
                total += diff
        requests_by_provider[provider] = total
    return {"logins": logins, "requests": requests_by_provider, "routes": by_route}


def per_check(delta: dict[str, Any], checks: int) -> dict[str, float]:
    return {p: round(n / checks, 2) for p, n in delta["requests"].items()}


def by_label(samples: list[Sample], labels: dict[str, str], rtt: float) -> dict[str, Any]:
    groups: dict[str, list[float]] = {}
    failed: Counter[str] = Counter()
    for sample in samples:
        label = labels.get(sample.iccid, sample.iccid)
        groups.setdefault(label, [])
        if sample.status == 200:
            groups[label].append(sample.ms)
        else:
            failed[label] += 1
    return {label: {**summarize(values, rtt), "failed": failed[label]} for label, values in groups.items()}


def sample_problems(samples: list[Sample], *, expect_cached: bool | None) -> list[str]:
    problems = Counter()
    for sample in samples:
        if sample.status != 200:
            problems[f"HTTP {sample.status} ({sample.body.get('code', '')})"] += 1
        elif expect_cached is not None and sample.cached is not expect_cached:
            problems[f"cached={sample.cached}"] += 1
        for provider, source in sample.sources.items():
            if source.startswith("error:"):
                problems[f"{provider} {source}"] += 1
    return [f"{text} x{count}" for text, count in problems.items()]
