"""Prometheus metrics (prometheus_client), served at GET /metrics (docs/operations.md, "Metrics").

Counted where things happen: request latency by route (`MetricsMiddleware`), provider calls, lookups
and index walks (subscribers of the `providers.observe` hooks), status-cache hits and misses, and
background task runs (`observe_task_run`), each run once: a scheduled job's run by
`pulse.services.jobs.record_job_run` (from a Celery task or a command), every other Celery task
(`fulfil_order`) by Celery's task signals here. Read at scrape time from the shared state:
circuit-breaker states, renewal orders by state, provider wallet balances and sales pauses.

Several gunicorn workers: set PROMETHEUS_MULTIPROC_DIR (an empty directory, wiped at each start) for
every process, and run gunicorn with `-c esim_status_checker/gunicorn_conf.py`; each worker then writes
its values to that directory and a scrape, whichever worker answers it, adds them all up
(prometheus_client's multiprocess mode). Without it, each process counts on its own (runserver, tests).
"""

from __future__ import annotations

import logging
import os
import time

from celery.signals import task_postrun, task_prerun
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from providers import observe

logger = logging.getLogger(__name__)

_LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_SECONDS = Histogram(
    "esim_http_request_duration_seconds",
    "Time to answer an HTTP request, by route.",
    ["route", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALL_SECONDS = Histogram(
    "esim_provider_call_duration_seconds",
    "Time of one HTTP request to a provider, by provider and endpoint.",
    ["provider", "endpoint"],
    buckets=_LATENCY_BUCKETS,
)
PROVIDER_CALLS = Counter(
    "esim_provider_calls_total",
    "HTTP requests to providers by outcome (ok, not_found, timeout, unavailable, rejected, ...).",
    ["provider", "endpoint", "outcome"],
)
LOOKUPS = Counter(
    "esim_provider_lookups_total",
    "Each provider's part in a status check, by outcome (the answer's `sources` value).",
    ["provider", "outcome"],
)
LOOKUP_SECONDS = Histogram(
    "esim_provider_lookup_duration_seconds",
    "Time of each provider's part in a status check.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
INDEX_WALKS = Counter(
    "esim_index_walks_total",
    "Walks of a provider list that build an index: full (every page) or head (the list's two ends).",
    ["provider", "index", "kind", "outcome"],
)
INDEX_WALK_PAGES = Counter(
    "esim_index_walk_pages_total", "Pages read by index walks.", ["provider", "index", "kind"]
)
INDEX_WALK_SECONDS = Histogram(
    "esim_index_walk_duration_seconds",
    "Time of an index walk.",
    ["provider", "index", "kind"],
    buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
)
STATUS_CACHE = Counter(
    "esim_status_cache_requests_total",
    "Status checks answered from the status cache (hit) or not (miss).",
    ["result"],
)
ALERT_EMAILS = Counter(
    "esim_alert_emails_total",
    "Usage-alert e-mails sent, by the threshold that led them (docs/alerts.md).",
    ["threshold"],
)
ALERT_LOOKUPS = Counter(
    "esim_alert_scan_lookups_total",
    "Looks of the alert scanner at a subscription, by source: provider (one budget token) or cache.",
    ["source"],
)
TASK_RUNS = Counter("esim_task_runs_total", "Background task runs by job and outcome.", ["job", "outcome"])
TASK_FAILURES = Counter("esim_task_failures_total", "Background task runs that failed, by job.", ["job"])
TASK_SECONDS = Histogram(
    "esim_task_duration_seconds",
    "Time of a background task run, by job.",
    ["job"],
    buckets=(0.01, 0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0),
)

_FAILED_OUTCOMES = {"failure", "failed", "error"}
# Celery's end states of one task run (task_postrun's `state`) as `outcome` labels.
_TASK_OUTCOMES = {"SUCCESS": "success", "FAILURE": "failure", "RETRY": "retry"}
_task_started: dict[str, float] = {}  # task id -> perf_counter at task_prerun, in this process


def observe_status_cache(*, hit: bool) -> None:
    STATUS_CACHE.labels("hit" if hit else "miss").inc()


def observe_alert_email(threshold: str) -> None:
    ALERT_EMAILS.labels(threshold).inc()


def observe_alert_lookup(source: str) -> None:
    ALERT_LOOKUPS.labels(source).inc()


def observe_task_run(job: str, outcome: str, seconds: float) -> None:
    """One background task run (`outcome` "success" / "failure", or "retry" for a Celery task that asked
    to be retried)."""
    TASK_RUNS.labels(job, outcome).inc()
    TASK_SECONDS.labels(job).observe(max(seconds, 0.0))
    if outcome in _FAILED_OUTCOMES:
        TASK_FAILURES.labels(job).inc()


def task_job(task_name: str) -> str:
    """The `job` label of a Celery task: its name without the module ("pulse.tasks.fulfil_order" ->
    "fulfil_order")."""
    return task_name.rpartition(".")[2]


def _counted_elsewhere(task) -> bool:
    """Scheduled-job tasks (`records_job_run=True` in pulse/tasks.py) are counted by `record_job_run`,
    with the job's name and its own outcome (a catalogue sync that failed returns, it does not raise)."""
    return task is None or bool(getattr(task, "records_job_run", False))


def _on_task_prerun(sender=None, task_id=None, task=None, **kwargs) -> None:
    if not _counted_elsewhere(task):
        _task_started[task_id] = time.perf_counter()


def _on_task_postrun(sender=None, task_id=None, task=None, state=None, **kwargs) -> None:
    started = _task_started.pop(task_id, None)
    if started is None or _counted_elsewhere(task):
        return
    # No state: an exception left the task (eager mode propagating it, or an error in Celery's tracing).
    outcome = "failure" if state is None else _TASK_OUTCOMES.get(state, str(state).lower())
    observe_task_run(task_job(task.name), outcome, time.perf_counter() - started)


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUEST_SECONDS.labels(route, method, f"{status // 100}xx").observe(seconds)


def _on_provider_call(event: observe.ProviderCall) -> None:
    PROVIDER_CALLS.labels(event.provider, event.endpoint, event.outcome).inc()
    PROVIDER_CALL_SECONDS.labels(event.provider, event.endpoint).observe(event.seconds)


def _on_lookup(event: observe.Lookup) -> None:
    LOOKUPS.labels(event.provider, event.outcome).inc()
    LOOKUP_SECONDS.labels(event.provider).observe(event.seconds)


def _on_index_walk(event: observe.IndexWalk) -> None:
    INDEX_WALKS.labels(event.provider, event.index, event.kind, event.outcome).inc()
    INDEX_WALK_PAGES.labels(event.provider, event.index, event.kind).inc(event.pages)
    INDEX_WALK_SECONDS.labels(event.provider, event.index, event.kind).observe(event.seconds)


_installed = False


def install() -> None:
    """Subscribe to the provider hooks and Celery's task signals, once per process (called from
    PulseConfig.ready, so in web processes, commands and Celery workers alike)."""
    global _installed
    if _installed:
        return
    observe.provider_calls.subscribe(_on_provider_call)
    observe.lookups.subscribe(_on_lookup)
    observe.index_walks.subscribe(_on_index_walk)
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="esim-metrics-task-prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="esim-metrics-task-postrun")
    if not _multiprocess():
        REGISTRY.register(_SHARED_STATE)
    _installed = True


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class SharedStateCollector:
    """Values read at scrape time from state every worker shares: breakers (cache), orders (database)."""

    def collect(self):
        yield from _breaker_metrics()
        yield from _order_metrics()
        yield from _wallet_metrics()

    def describe(self):
        return []  # read lazily: registering must not touch the cache or the database


def _breaker_metrics():
    from providers.breaker import CLOSED, HALF_OPEN, OPEN
    from pulse.services.providers import breaker_states

    family = GaugeMetricFamily(
        "esim_provider_breaker_state",
        "Circuit breaker state per provider (1 for the current state).",
        labels=["provider", "state"],
    )
    for provider, current in breaker_states().items():
        if current == "not_configured":
            continue
        for state in (CLOSED, OPEN, HALF_OPEN):
            family.add_metric([provider, state], 1.0 if current == state else 0.0)
    yield family


def _order_metrics():
    from django.db.models import Count

    from pulse.models import OrderStatus, RenewalOrder

    family = GaugeMetricFamily("esim_renewal_orders", "Renewal orders by state.", labels=["state"])
    counts = dict(RenewalOrder.objects.order_by().values_list("status").annotate(n=Count("id")))
    for state in OrderStatus.values:
        family.add_metric([state], float(counts.get(state, 0)))
    yield family


def _wallet_metrics():
    from pulse.services.providers import enabled_clients
    from pulse.services.wallets import last_balances, paused_providers

    balance = GaugeMetricFamily(
        "esim_provider_wallet_balance",
        "Each provider's prepaid wallet at its last read (check_wallets), in the wallet's currency.",
        labels=["provider", "currency"],
    )
    for provider, currency, amount in last_balances():
        balance.add_metric([provider, currency], float(amount))
    yield balance
    paused = GaugeMetricFamily(
        "esim_provider_sales_paused",
        "1 while the provider's sales are paused (its wallet cannot pay for top-ups), else 0.",
        labels=["provider"],
    )
    stopped = paused_providers()
    for provider in enabled_clients():
        paused.add_metric([provider], 1.0 if provider in stopped else 0.0)
    yield paused


_SHARED_STATE = SharedStateCollector()


def render() -> bytes:
    """The metrics text of every worker (multiprocess mode) or of this process, plus the shared state."""
    if not _multiprocess():
        return generate_latest(REGISTRY)
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry)
    registry.register(_SHARED_STATE)
    return generate_latest(registry)


class MetricsMiddleware:
    """Request latency by route (the URL pattern, not the path: no ICCIDs or ids in labels)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        route = match.route if match is not None and match.route else "unmatched"
        observe_request(route, request.method, response.status_code, time.perf_counter() - started)
        return response
