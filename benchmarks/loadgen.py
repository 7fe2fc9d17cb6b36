"""Measuring: sequential latency samples over one keep-alive connection, and bounded load runs with wrk
(a small threaded Python load generator stands in only when wrk is not installed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

CHECK_PATH = "/api/esim/check/"
HEALTH_PATH = "/api/esim/health/"
LUA = Path(__file__).resolve().parent / "wrk_bench.lua"
WRK = shutil.which("wrk")


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values_ms: Sequence[float], rtt_ms: float | None = None) -> dict[str, Any]:
    p50, p95 = percentile(values_ms, 50), percentile(values_ms, 95)
    out: dict[str, Any] = {
        "n": len(values_ms),
        "p50_ms": _round(p50),
        "p95_ms": _round(p95),
        "min_ms": _round(min(values_ms)) if values_ms else None,
        "max_ms": _round(max(values_ms)) if values_ms else None,
    }
    if rtt_ms:
        out["p50_rtt"] = _round(p50 / rtt_ms if p50 is not None else None, 2)
        out["p95_rtt"] = _round(p95 / rtt_ms if p95 is not None else None, 2)
    return out


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Sample:
    iccid: str
    ms: float
    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def cached(self) -> bool | None:
        return self.body.get("cached")

    @property
    def sources(self) -> dict[str, str]:
        return self.body.get("sources") or {}


class CheckClient:
    """POST /api/esim/check/ one request at a time over a keep-alive connection; wall time per request."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def check(self, iccid: str) -> Sample:
        started = time.perf_counter()
        response = self.session.post(f"{self.base_url}{CHECK_PATH}", json={"iccid": iccid}, timeout=30)
        body = response.content
        ms = (time.perf_counter() - started) * 1000
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {"raw": body[:200].decode(errors="replace")}
        return Sample(iccid, ms, response.status_code, parsed if isinstance(parsed, dict) else {})

    def close(self) -> None:
        self.session.close()


# --------------------------------------------------------------------------------------------------
# Load runs
# --------------------------------------------------------------------------------------------------


def load_run(
    base_url: str,
    path: str,
    *,
    connections: int,
    duration: float,
    iccids: Iterable[str] = (),
    count_cached: bool = False,
) -> dict[str, Any]:
    """One bounded run: req/s, p50/p99 latency, errors. wrk when installed, else a Python fallback."""
    iccids = list(iccids)
    if WRK:
        return _wrk(base_url, path, connections, duration, iccids, count_cached)
    return _python_load(base_url, path, connections, duration, iccids)


def _wrk(
    base_url: str, path: str, connections: int, duration: float, iccids: list[str], count_cached: bool
) -> dict[str, Any]:
    threads = 1 if connections < 8 else 2  # 2 cores are shared with gunicorn and the simulators
    argv = [
        WRK,
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{duration:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"{base_url}{path}",
    ]
    env = {
        **os.environ,
        "BENCH_PATH": path,
        "BENCH_ICCIDS": ",".join(iccids),
        "BENCH_COUNT_CACHED": "1" if count_cached else "0",
    }
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 30, check=False)
    line = next((ln for ln in result.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if result.returncode != 0 or line is None:
        raise RuntimeError(
            f"wrk failed ({result.returncode}): {result.stderr.strip()} {result.stdout[-500:]}"
        )
    data = json.loads(line.removeprefix("BENCH_JSON "))
    seconds = data["duration_us"] / 1e6
    errors = data["errors"]
    return {
        "tool": "wrk",
        "connections": connections,
        "threads": threads,
        "duration_s": round(seconds, 2),
        "requests": data["requests"],
        "rps": round(data["requests"] / seconds, 1) if seconds else 0.0,
        "p50_ms": round(data["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(data["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(data["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(data["latency_us"]["max"] / 1000, 2),
        "non_2xx": errors["status"],
        "socket_errors": errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        "cached_true": data["cached_true"] if count_cached else None,
        "cached_false": data["cached_false"] if count_cached else None,
    }


def _python_load(
    base_url: str, path: str, connections: int, duration: float, iccids: list[str]
) -> dict[str, Any]:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def worker(offset: int) -> None:
        session = requests.Session()
        local: list[float] = []
        index = offset
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                if iccids:
                    response = session.post(
                        base_url + path, json={"iccid": iccids[index % len(iccids)]}, timeout=10
                    )
                else:
                    response = session.get(base_url + path, timeout=10)
                ok = response.status_code < 400
            except requests.RequestException:
                ok = False
            local.append((time.perf_counter() - started) * 1000)
            if not ok:
                with lock:
                    errors[0] += 1
            index += 1
        with lock:
            latencies.extend(local)

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(duration + 15)
    seconds = time.monotonic() - started
    return {
        "tool": "python (wrk not installed)",
        "connections": connections,
        "threads": connections,
        "duration_s": round(seconds, 2),
        "requests": len(latencies),
        "rps": round(len(latencies) / seconds, 1),
        "p50_ms": _round(percentile(latencies, 50), 2),
        "p90_ms": _round(percentile(latencies, 90), 2),
        "p99_ms": _round(percentile(latencies, 99), 2),
        "max_ms": _round(max(latencies), 2) if latencies else None,
        "non_2xx": errors[0],
        "socket_errors": 0,
        "cached_true": None,
        "cached_false": None,
    }
