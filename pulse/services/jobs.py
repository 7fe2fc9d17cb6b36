"""Scheduled jobs: what each one does, how one run is guarded and recorded, and how late each is.

The jobs (names as in `settings.SCHEDULED_JOBS`, which also builds Celery beat's schedule):

- `reconciler`: one `reconcile_once` pass (leases, abandoned PAID orders, checkouts, refunds);
- `email_sweep`: customer e-mails the after-commit listener could not send;
- `lookup_stats`: the worker's status-lookup counts written to the hourly table, old hours pruned
  (`pulse.services.lookup_stats`; web processes write their own counts);
- `esim_index`: the provider list indexes (eSIMCard's ICCID index, AirHub's order lists), rebuilt when
  absent or stale (`pulse.services.indexes`);
- `catalog_sync:<provider>`: that provider's bundle catalogue;
- `alert_scan`: one pass of the usage-alert scanner (`pulse.services.alert_scan`, docs/alerts.md).
- `check_wallets`: every provider's wallet balance; pauses, resumes and warns (`pulse.services.wallets`).

`run_job(name)` is the one way to run a job (Celery tasks and the management commands use it): it
takes the job's lease so two runs never overlap, runs it and records the run with `record_job_run`.
`sync_catalog` records its runs the same way, so health is right for cron users too.
Health reads `job_states()`: a job with no success for `LATE_AFTER_INTERVALS` intervals is late.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from django.conf import settings
from django.db.models import Max, Min, Q
from django.utils import timezone

from pulse.metrics import observe_task_run
from pulse.models import JobLock, JobRun
from pulse.services.catalog import Progress, catalog_sync
from pulse.services.emails import send_due_emails
from pulse.services.providers import enabled_clients

logger = logging.getLogger(__name__)

LATE_AFTER_INTERVALS = 3
RETENTION = timedelta(days=7)  # job runs older than this are pruned when the job records a new one
CATALOG_PREFIX = "catalog_sync:"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class UnknownJob(ValueError):
    pass


@dataclass(frozen=True)
class JobOutcome:
    ok: bool
    detail: str = ""
    error: str = ""


@dataclass(frozen=True)
class JobState:
    name: str
    interval_seconds: float
    last_success: datetime | None
    last_run: datetime | None
    last_run_ok: bool | None
    state: str  # ok | late | never_run

    @property
    def late(self) -> bool:
        return self.state == "late"


# --- what each job does -----------------------------------------------------------------------------


def _reconciler() -> JobOutcome:
    from pulse.services.reconciler import reconcile_once  # the reconciler imports the fulfilment stack

    return JobOutcome(ok=True, detail=reconcile_once(include_emails=False).line())


def _email_sweep() -> JobOutcome:
    return JobOutcome(ok=True, detail=f"{send_due_emails()} e-mails sent")


def _esim_index() -> JobOutcome:
    from pulse.services.indexes import rebuild_provider_indexes, report_lines

    lines = report_lines(rebuild_provider_indexes())
    failed = [line for line, ok in lines if not ok]
    return JobOutcome(
        ok=not failed, detail="; ".join(line for line, _ in lines)[:500], error="; ".join(failed)
    )


def _alert_scan() -> JobOutcome:
    from pulse.services.alert_scan import scan_alerts  # the scanner imports the status and e-mail stack

    summary = scan_alerts()
    # A subscription whose look crashed (a bug, logged with its traceback) fails the run: health shows
    # the job late if it keeps failing, while the other subscriptions are still looked at.
    return JobOutcome(ok=not summary.errors, detail=summary.line()[:500], error="; ".join(summary.errors))


def _check_wallets() -> JobOutcome:
    from pulse.services.wallets import check_wallets

    checks = check_wallets()
    failed = [check for check in checks if check.balance is None]
    return JobOutcome(
        ok=not failed,
        detail="; ".join(check.line() for check in checks)[:500],
        error="; ".join(f"{check.provider}: {check.error}" for check in failed),
    )


def _lookup_stats() -> JobOutcome:
    from pulse.services import lookup_stats

    written = lookup_stats.counter.flush()
    pruned = lookup_stats.prune()
    return JobOutcome(ok=True, detail=f"{written} lookups written, {pruned} old hourly rows pruned")


def catalog_sync_job(provider: str, progress: Progress | None = None) -> JobOutcome:
    summaries = catalog_sync(provider=provider, progress=progress)
    failed = [summary for summary in summaries if not summary.ok]
    detail = "; ".join(summary.line() for summary in summaries)[:500]
    return JobOutcome(ok=not failed, detail=detail, error="; ".join(s.error for s in failed))


def job_names() -> list[str]:
    return list(settings.SCHEDULED_JOBS)


def _function(name: str) -> Callable[[], JobOutcome]:
    if name not in settings.SCHEDULED_JOBS:
        raise UnknownJob(f"unknown job {name!r}; choose from {', '.join(job_names())}")
    if name.startswith(CATALOG_PREFIX):
        return partial(catalog_sync_job, name.removeprefix(CATALOG_PREFIX))
    return {
        "reconciler": _reconciler,
        "email_sweep": _email_sweep,
        "esim_index": _esim_index,
        "alert_scan": _alert_scan,
        "check_wallets": _check_wallets,
        "lookup_stats": _lookup_stats,
    }[name]


def applies(name: str) -> bool:
    """False for a job with nothing to do here (its provider is not configured): it is neither run
    nor expected by health."""
    if name.startswith(CATALOG_PREFIX):
        return name.removeprefix(CATALOG_PREFIX) in enabled_clients()
    if name == "esim_index":  # every provider client that keeps a list index (eSIMCard, AirHub)
        return any(hasattr(client, "rebuild_indexes") for client in enabled_clients().values())
    if name == "check_wallets":
        return bool(enabled_clients())
    return True


def interval(name: str) -> float:
    """Seconds between runs (0 = not scheduled)."""
    return float(settings.SCHEDULED_JOBS[name][0])


# --- running one job --------------------------------------------------------------------------------


def run_job(name: str, *, lease_seconds: float | None = None) -> JobOutcome | None:
    """Run the job unless another process is running it (None then, or when it does not apply here).

    The outcome is recorded; an exception is recorded as a failed run and re-raised.
    """
    function = _function(name)
    if not applies(name):
        logger.info("job %s skipped: nothing to do in this configuration", name)
        return None
    with job_lease(name, lease_seconds or settings.CELERY_TASK_TIME_LIMIT) as held:
        if not held:
            logger.info("job %s skipped: another run of it has not finished", name)
            return None
        return run_recorded(name, function)


def run_recorded(name: str, function: Callable[[], JobOutcome]) -> JobOutcome:
    """Run `function` as a run of job `name` and record it (no lease: for commands run by hand)."""
    started_at, started = timezone.now(), time.monotonic()
    try:
        outcome = function()
    except Exception as exc:  # recorded for health and staff, then raised for the task's own log
        record_job_run(
            name,
            ok=False,
            seconds=time.monotonic() - started,
            error="".join(traceback.format_exception(exc))[-5000:],
            started_at=started_at,
        )
        raise
    record_job_run(
        name,
        ok=outcome.ok,
        seconds=time.monotonic() - started,
        error=outcome.error,
        detail=outcome.detail,
        started_at=started_at,
    )
    return outcome


@contextmanager
def job_lease(name: str, seconds: float) -> Iterator[bool]:
    """Yield True when this process holds the job for up to `seconds` (a compare-and-set on the
    job's lock row, so it holds across processes and machines); released on exit."""
    holder = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    now = timezone.now()
    JobLock.objects.get_or_create(job=name, defaults={"locked_until": _EPOCH})
    won = JobLock.objects.filter(job=name, locked_until__lte=now).update(
        holder=holder, locked_until=now + timedelta(seconds=seconds)
    )
    try:
        yield bool(won)
    finally:
        if won:
            JobLock.objects.filter(job=name, holder=holder).update(holder="", locked_until=timezone.now())


def record_job_run(
    job: str,
    ok: bool,
    seconds: float,
    error: str = "",
    *,
    detail: str = "",
    started_at: datetime | None = None,
) -> JobRun:
    """Store one run of a scheduled job: the single place every run goes through (health, admin and
    the Prometheus task metrics read it)."""
    observe_task_run(job, "success" if ok else "failure", seconds)
    finished_at = timezone.now()
    run = JobRun.objects.create(
        job=job[:64],
        started_at=started_at or finished_at - timedelta(seconds=seconds),
        finished_at=finished_at,
        ok=ok,
        seconds=round(seconds, 3),
        detail=detail[:500],
        error=error,
        host=f"{socket.gethostname()}:{os.getpid()}"[:255],
    )
    JobRun.objects.filter(job=run.job, finished_at__lt=finished_at - RETENTION).delete()
    if ok:
        logger.info("job %s ok in %.2fs: %s", job, seconds, detail, extra={"job": job})
    else:
        logger.warning("job %s failed in %.2fs: %s", job, seconds, (error.strip().splitlines() or [""])[-1])
    return run


# --- how late each job is ---------------------------------------------------------------------------


def job_states(now: datetime | None = None) -> list[JobState]:
    """Every scheduled job that applies here, with its last success and whether it is late.

    A job is late when it has not succeeded for LATE_AFTER_INTERVALS intervals. A job that never
    succeeded counts from the first run of any job (when the background side started); before any job
    ever ran it is `never_run`, which is shown but does not make health degraded.
    """
    now = now or timezone.now()
    rows = JobRun.objects.values("job").annotate(
        last_success=Max("finished_at", filter=Q(ok=True)), last_run=Max("finished_at")
    )
    by_job = {row["job"]: row for row in rows}
    first_run = JobRun.objects.aggregate(first=Min("started_at"))["first"]
    last_ok = _last_run_ok(by_job)
    states = []
    for name in job_names():
        every = interval(name)
        if every <= 0 or not applies(name):
            continue
        row = by_job.get(name, {})
        last_success, last_run = row.get("last_success"), row.get("last_run")
        since = last_success or first_run
        if since is None:
            state = "never_run"
        elif now - since > timedelta(seconds=every * LATE_AFTER_INTERVALS):
            state = "late"
        else:
            state = "ok"
        states.append(JobState(name, every, last_success, last_run, last_ok.get(name), state))
    return states


def overdue_jobs(now: datetime | None = None) -> list[str]:
    """Scheduled jobs that apply here and have not succeeded within one interval (or never did).

    Beat runs an interval job one interval after it starts, and forgets its schedule when its file
    is lost (a new container); it sends these at start-up so a restart never delays them."""
    now = now or timezone.now()
    last = dict(
        JobRun.objects.filter(ok=True).values("job").annotate(at=Max("finished_at")).values_list("job", "at")
    )
    return [
        name
        for name in job_names()
        if interval(name) > 0
        and applies(name)
        and (last.get(name) is None or now - last[name] > timedelta(seconds=interval(name)))
    ]


def _last_run_ok(by_job: dict[str, dict]) -> dict[str, bool]:
    """Whether each job's latest run succeeded: it did when the latest run is the latest success."""
    return {name: row["last_run"] == row["last_success"] for name, row in by_job.items()}
