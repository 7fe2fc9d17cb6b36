"""Scheduled jobs: recorded runs, one run at a time, how late each job is, health, tasks and commands.

docs/background.md. The jobs run in this process (Celery's eager mode, or `run_job` directly); the
worker processes are exercised in tests/reliability/test_celery_worker.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from pulse import tasks
from pulse.models import Bundle, JobLock, JobRun
from pulse.services import jobs
from pulse.services.status import esim_status_check
from pulse.tests.background_helpers import (  # noqa: F401
    DEAD_BROKER,
    broker,
    live_fixture,
    queued_fixture,
)
from pulse.tests.catalog_helpers import ESIMCARD_ICCID, sandbox_fixture  # noqa: F401
from pulse.tests.staff_helpers import (  # noqa: F401
    customer_client_fixture,
    staff_client_fixture,
    staff_user_fixture,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("sandbox")]

ROOT = Path(__file__).resolve().parents[2]
JOB_RUNS = "/admin/pulse/jobrun/"
LIVE_JOBS = {
    "reconciler",
    "email_sweep",
    "alert_scan",
    "check_wallets",
    "lookup_stats",
    "catalog_sync:travelroam",
}
ALL_JOBS = {
    "reconciler",
    "email_sweep",
    "alert_scan",
    "esim_index",
    "check_wallets",
    "lookup_stats",
    "catalog_sync:airhub",
    "catalog_sync:esimcard",
    "catalog_sync:travelroam",
}


def runs(job: str | None = None) -> list[tuple[str, bool]]:
    rows = JobRun.objects.order_by("pk")
    if job:
        rows = rows.filter(job=job)
    return [(run.job, run.ok) for run in rows]


def old_run(job: str, ago: timedelta, ok: bool = True) -> JobRun:
    finished = timezone.now() - ago
    return JobRun.objects.create(
        job=job, started_at=finished, finished_at=finished, ok=ok, seconds=0.1, error="" if ok else "boom"
    )


def health() -> dict:
    response = APIClient().get("/api/esim/health/")
    assert response.status_code == 200
    return response.json()


# --- running and recording ------------------------------------------------------------------------------


def test_a_run_is_recorded_with_its_outcome_duration_and_host():
    outcome = jobs.run_job("email_sweep")

    assert (outcome.ok, outcome.detail) == (True, "0 e-mails sent")
    run = JobRun.objects.get()
    assert (run.job, run.ok, run.detail, run.error) == ("email_sweep", True, "0 e-mails sent", "")
    assert run.seconds >= 0
    assert run.finished_at >= run.started_at
    assert str(os.getpid()) in run.host


def test_a_job_that_raises_is_recorded_as_failed_and_the_error_propagates(monkeypatch):
    def broken():
        raise RuntimeError("mail backend exploded")

    monkeypatch.setattr(jobs, "_email_sweep", broken)

    with pytest.raises(RuntimeError, match="exploded"):
        jobs.run_job("email_sweep")

    run = JobRun.objects.get()
    assert (run.job, run.ok) == ("email_sweep", False)
    assert "RuntimeError: mail backend exploded" in run.error
    assert JobLock.objects.get(job="email_sweep").holder == ""  # released for the next run


def test_a_catalogue_sync_the_provider_fails_is_a_failed_run_and_keeps_the_catalogue(sandbox):
    assert jobs.run_job("catalog_sync:travelroam").ok
    kept = Bundle.objects.filter(provider="travelroam", active=True).count()
    sandbox.set_fault("travelroam", "http_500")

    outcome = jobs.run_job("catalog_sync:travelroam")

    assert not outcome.ok
    assert "kept the last good catalogue" in outcome.detail
    assert runs("catalog_sync:travelroam") == [
        ("catalog_sync:travelroam", True),
        ("catalog_sync:travelroam", False),
    ]
    assert JobRun.objects.filter(ok=False).get().error
    assert Bundle.objects.filter(provider="travelroam", active=True).count() == kept > 0


def test_a_job_another_process_is_running_is_skipped():
    with jobs.job_lease("reconciler", 60) as held:
        assert held
        assert jobs.run_job("reconciler") is None  # beat ticked faster than the pass

    assert runs() == []
    assert jobs.run_job("reconciler").ok  # released: the next tick runs
    assert runs() == [("reconciler", True)]


def test_a_lease_whose_holder_died_runs_out_and_the_job_runs_again():
    JobLock.objects.create(
        job="reconciler", holder="host:123:dead", locked_until=timezone.now() - timedelta(seconds=1)
    )

    assert jobs.run_job("reconciler").ok
    assert runs() == [("reconciler", True)]


def test_a_lease_still_held_by_a_live_holder_is_not_taken():
    JobLock.objects.create(
        job="reconciler", holder="host:123:alive", locked_until=timezone.now() + timedelta(minutes=5)
    )

    assert jobs.run_job("reconciler") is None
    assert JobLock.objects.get(job="reconciler").holder == "host:123:alive"


def test_runs_older_than_the_retention_are_pruned_when_the_job_runs_again():
    old_run("email_sweep", jobs.RETENTION + timedelta(hours=1))
    recent = old_run("email_sweep", timedelta(hours=1))
    other = old_run("reconciler", jobs.RETENTION + timedelta(hours=1))

    jobs.run_job("email_sweep")

    left = set(JobRun.objects.values_list("pk", flat=True))
    assert recent.pk in left
    assert other.pk in left  # another job's rows go when that job records a run
    assert len(left) == 3


def test_an_unknown_job_is_refused():
    with pytest.raises(jobs.UnknownJob, match="choose from reconciler"):
        jobs.run_job("rm -rf")


def test_jobs_of_a_provider_that_is_not_configured_neither_run_nor_count(settings):
    settings.ESIM_SANDBOX = False
    settings.ESIMCARD_EMAIL = settings.ESIMCARD_PASSWORD = ""
    settings.AIRHUB_USERNAME = settings.AIRHUB_PASSWORD = ""
    settings.TRAVELROAM_API_KEY = settings.TRAVELROAM_CLIENT_SECRET = ""

    assert jobs.run_job("catalog_sync:esimcard") is None
    assert jobs.run_job("esim_index") is None
    assert runs() == []
    # The alert scanner still runs: it deletes unconfirmed addresses after 48 hours (docs/alerts.md).
    assert {state.name for state in jobs.job_states()} == {
        "reconciler",
        "email_sweep",
        "alert_scan",
        "lookup_stats",
    }


def test_the_esim_index_job_builds_the_index_so_a_check_walks_no_pages(sandbox):
    outcome = jobs.run_job("esim_index")
    assert outcome.ok
    assert "esimcard esims: rebuilt, 3 entries" in outcome.detail.split("; ")
    assert sandbox.stats()["requests"]["esimcard"]["/my-esims"] == 1  # the account walk, off-request

    result = esim_status_check(iccid=ESIMCARD_ICCID, use_cache=False)

    assert result.answer()["api_provider"] == "ESIMCARD"
    assert sandbox.stats()["requests"]["esimcard"]["/my-esims"] == 1  # the check walked nothing


# --- how late each job is -------------------------------------------------------------------------------


def test_before_any_job_ran_every_job_is_never_run_and_health_is_not_degraded(live):
    states = {state.name: state.state for state in jobs.job_states()}

    assert states == dict.fromkeys(LIVE_JOBS, "never_run")  # only TravelRoam is configured
    body = health()
    assert body["status"] == "healthy"
    assert body["background"]["jobs"]["reconciler"] == {
        "state": "never_run",
        "last_success": None,
        "last_run_ok": None,
        "interval_seconds": 60,
    }


def test_every_job_of_the_sandbox_is_expected_there():
    assert {state.name for state in jobs.job_states()} == ALL_JOBS


def test_a_job_that_has_not_succeeded_for_three_intervals_is_late_and_degrades_health(live):
    for name in LIVE_JOBS:
        old_run(name, timedelta(seconds=1))
    old_run("reconciler", timedelta(seconds=1), ok=False)  # the latest run failed: not late yet
    assert health()["status"] == "healthy"

    JobRun.objects.filter(job="reconciler", ok=True).update(
        finished_at=timezone.now() - timedelta(seconds=181)
    )

    body = health()
    assert body["status"] == "degraded"
    reconciler = body["background"]["jobs"]["reconciler"]
    assert (reconciler["state"], reconciler["last_run_ok"]) == ("late", False)
    assert reconciler["last_success"].endswith("Z")
    assert body["background"]["jobs"]["email_sweep"]["state"] == "ok"


def test_two_intervals_without_success_is_not_late_yet():
    old_run("reconciler", timedelta(seconds=119))

    state = {state.name: state for state in jobs.job_states()}["reconciler"]

    assert (state.state, state.last_run_ok) == ("ok", True)


def test_a_job_that_never_succeeded_is_late_three_intervals_after_the_background_started():
    old_run("catalog_sync:travelroam", timedelta(minutes=10))  # the background has run for 10 minutes

    states = {state.name: state.state for state in jobs.job_states()}

    assert states["reconciler"] == "late"  # 60 s interval: nothing for 10 minutes
    assert states["email_sweep"] == "ok"  # 300 s interval: not 3 intervals yet
    assert states["catalog_sync:airhub"] == "ok"


def test_health_shows_the_broker_and_degrades_when_it_is_unreachable(live, queued):
    assert health()["status"] == "healthy"
    with broker(DEAD_BROKER):
        body = health()

    assert body["background"]["broker"] == "error"
    assert body["status"] == "degraded"


def test_health_shows_a_reachable_broker(queued):
    assert health()["background"]["broker"] == "ok"


def test_in_the_unit_tests_tasks_run_inline_and_health_says_so():
    assert health()["background"]["broker"] == "eager"


# --- beat schedule, tasks, commands ----------------------------------------------------------------------


def test_beat_schedules_every_job_and_drops_a_run_still_queued_when_the_next_is_due(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE

    assert set(schedule) == ALL_JOBS
    assert schedule["reconciler"]["schedule"] == 60.0
    assert schedule["catalog_sync:esimcard"] == {
        "task": "pulse.tasks.sync_catalogue",
        "schedule": 21600.0,
        "args": ("esimcard",),
        "options": {"expires": 21600.0},
    }
    for entry in schedule.values():
        assert entry["options"]["expires"] == entry["schedule"]


def test_an_interval_of_zero_switches_a_job_off():
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        "print(json.dumps(sorted(settings.CELERY_BEAT_SCHEDULE)))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "esim_status_checker.settings.test",
        "SCHEDULE_EMAIL_SWEEP_SECONDS": "0",
        "SCHEDULE_CATALOG_SYNC_SECONDS": "0",
        "SCHEDULE_LOOKUP_STATS_SECONDS": "0",
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [
        "alert_scan",
        "check_wallets",
        "esim_index",
        "reconciler",
    ]


@pytest.mark.parametrize(
    ("task", "args", "job"),
    [
        (tasks.reconcile, (), "reconciler"),
        (tasks.send_due_emails, (), "email_sweep"),
        (tasks.rebuild_esim_index, (), "esim_index"),
        (tasks.scan_alerts, (), "alert_scan"),
        (tasks.flush_lookup_stats, (), "lookup_stats"),
        (tasks.sync_catalogue, ("airhub",), "catalog_sync:airhub"),
    ],
)
def test_each_scheduled_task_runs_its_job(task, args, job):
    assert task.delay(*args).get() == "ok"
    assert runs() == [(job, True)]


def test_a_scheduled_task_whose_job_is_running_elsewhere_is_skipped():
    with jobs.job_lease("reconciler", 60):
        assert tasks.reconcile.delay().get() == "skipped"
    assert runs() == []


def test_process_renewals_records_a_reconciler_and_an_email_sweep_run():
    out = StringIO()
    call_command("process_renewals", stdout=out)

    assert runs() == [("reconciler", True), ("email_sweep", True)]
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("process_renewals: leases reclaimed 0")
    assert lines[1] == "email_sweep: 0 e-mails sent"


def test_sync_catalog_records_one_run_per_provider():
    call_command("sync_catalog", stdout=StringIO())

    assert sorted(runs()) == [
        ("catalog_sync:airhub", True),
        ("catalog_sync:esimcard", True),
        ("catalog_sync:travelroam", True),
    ]


def test_run_job_command_runs_a_job_and_lists_them():
    out = StringIO()
    call_command("run_job", "email_sweep", stdout=out, no_color=True)
    assert out.getvalue().strip() == "email_sweep: ok 0 e-mails sent"

    listing = StringIO()
    call_command("run_job", "--list", stdout=listing)
    lines = listing.getvalue().splitlines()
    assert len(lines) == len(ALL_JOBS)
    assert any(line.startswith("email_sweep") and "ok" in line and "every 300s" in line for line in lines)

    with pytest.raises(CommandError, match="unknown job"):
        call_command("run_job", "nope")


# --- admin -----------------------------------------------------------------------------------------------


def test_staff_see_job_runs_in_the_admin_read_only(staff_client, customer_client):
    jobs.run_job("email_sweep")
    failed = old_run("reconciler", timedelta(minutes=1), ok=False)
    JobRun.objects.filter(pk=failed.pk).update(error="Traceback ...\n<b>RuntimeError</b>: boom")

    listing = staff_client.get(JOB_RUNS)
    only_failed = staff_client.get(JOB_RUNS, {"ok__exact": "0"})
    detail = staff_client.get(f"{JOB_RUNS}{failed.pk}/change/")

    assert listing.status_code == 200
    assert [run.job for run in listing.context["cl"].result_list] == ["email_sweep", "reconciler"]
    assert "0 e-mails sent" in listing.content.decode()
    assert [run.pk for run in only_failed.context["cl"].result_list] == [failed.pk]
    assert "&lt;b&gt;RuntimeError&lt;/b&gt;: boom" in detail.content.decode()  # escaped
    assert staff_client.get(f"{JOB_RUNS}add/").status_code == 403
    assert customer_client.get(JOB_RUNS).status_code == 302  # to the login page


# --- beat start-up ---------------------------------------------------------------------------------------


def test_jobs_that_have_not_succeeded_within_their_interval_are_overdue():
    old_run("reconciler", timedelta(seconds=30))  # within its 60 s
    old_run("email_sweep", timedelta(seconds=301))  # one 300 s interval ago
    old_run("esim_index", timedelta(seconds=10), ok=False)  # failed, never succeeded

    assert set(jobs.overdue_jobs()) == ALL_JOBS - {"reconciler"}


def test_beat_sends_the_overdue_jobs_when_it_starts(queued):
    from esim_status_checker.celery import _send_overdue_jobs

    for name in ALL_JOBS - {"catalog_sync:airhub"}:
        old_run(name, timedelta(seconds=1))

    _send_overdue_jobs()

    (task,) = queued.take(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert (task.name, task.args) == ("pulse.tasks.sync_catalogue", ("airhub",))
    assert task.run() == "ok"
    assert runs("catalog_sync:airhub") == [("catalog_sync:airhub", True)]
