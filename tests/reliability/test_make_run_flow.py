"""`make run` as a fresh clone runs it: scripts/run_dev.py, the real script, with no Redis and no broker.

run_dev starts `manage.py runserver` and a Celery worker with embedded beat that talk through kombu's
file-system transport (CELERY_FILESYSTEM_DIR). The test gives it what `.env.example` gives a fresh clone
(DEBUG on, sandbox providers and payments, no credentials, REDIS_URL and CELERY_BROKER_URL unset) on files
of its own in tmp: a migrated SQLite database, the sandbox world, the broker's folders, beat's schedule.
Then, as in issue 12's "Done when": a renewal of the demo eSIM is created over the API and paid on the
sandbox checkout page (its Pay form, posted as the browser posts it); nobody calls confirm-payment, so
only the embedded worker can fulfil it; the order endpoint is polled until COMPLETED; a separate
`manage.py check_esim <iccid> --fresh` process then shows the new bundle (one sandbox world).
The reconciler's runs recorded by beat's schedule show the scheduled side works too, and the metrics the
worker wrote (PROMETHEUS_MULTIPROC_DIR) count the top-up task and the job runs.

The served app always uses its own SQLite file, whatever DATABASE_URL this pytest run has (`make run`'s
default; several processes on one SQLite file is what the embedded mode is for), so the test is the same
in the SQLite and the PostgreSQL pass of CI, and it needs no Redis. The test never touches the
project's own var/ folder, db.sqlite3 or .env.

Every process run_dev starts gets a session of its own; the test stops run_dev as Ctrl-C would and then
kills the process group of every child it saw, so nothing outlives the test even when it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from pulse.tests.renewal_helpers import FRONTEND_BODY, SEED_BUNDLE, SEED_ICCID
from tests.reliability import servers

pytestmark = pytest.mark.slow

TIMEOUT = 30  # one HTTP request
WAIT = 90  # for the worker to start and do something: generous for a loaded 2-CPU CI box (not a timing)
RECONCILER_EVERY = 2  # seconds: beat sends the reconciler this often
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def children_of(pid: int) -> set[int]:
    """Pids whose parent is `pid` (from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")"
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def kill_groups(pids: set[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture
def make_run(tmp_path: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    """(base URL, environment, folder of its files) of a running scripts/run_dev.py."""
    if not Path(servers.PYTHON).with_name("celery").exists():
        pytest.skip("no celery executable beside this Python (run_dev starts the worker with it)")
    port = servers.free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **servers.development_environment(tmp_path),
        "CELERY_FILESYSTEM_DIR": str(tmp_path / "celery"),  # the broker's folders and beat's schedule
        "FRONTEND_URL": f"{base_url}/frontend-stand-in",
        "SCHEDULE_RECONCILER_SECONDS": str(RECONCILER_EVERY),
        "LOG_LEVEL": "INFO",  # the worker's "Task ... succeeded" lines, for the failure message
        # Every process writes its Prometheus counts here (docs/operations.md, "Metrics"): the test reads
        # what the worker's pool processes counted.
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    (tmp_path / "metrics").mkdir()
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        assert name not in env
    migrated = subprocess.run(
        [servers.PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    seen: set[int] = set()  # run_dev's children: each leads a process group (session) of its own
    with servers.stopped_on_sigterm(lambda: kill_groups(seen)):
        run_dev = servers.start(
            "run_dev",
            [servers.PYTHON, "scripts/run_dev.py", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            log_dir=tmp_path,
        )
        try:
            servers.drain_stdout(run_dev, tmp_path / "run_dev.log")
            deadline = time.monotonic() + 10
            while len(seen) < 2 and time.monotonic() < deadline and run_dev.poll() is None:
                seen |= children_of(run_dev.pid)
                time.sleep(0.1)
            assert len(seen) == 2, f"run_dev started {len(seen)} of its 2 children; see {tmp_path}"
            servers.wait_until_ready(f"{base_url}/api/esim/currency/supported/", run_dev, timeout=60)
            yield base_url, env, tmp_path
        finally:
            seen |= children_of(run_dev.pid)
            servers.stop(run_dev, grace=15)  # SIGTERM: run_dev stops its children as on Ctrl-C
            kill_groups(seen)  # and whatever of theirs is left, even when run_dev itself was killed


def rows(database: Path, sql: str, *params) -> list[tuple]:
    """Read the served app's SQLite database (read-only, beside the running processes)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=20)) as conn:
        return conn.execute(sql, params).fetchall()


def pay_on_the_checkout_page(checkout_url: str) -> None:
    """Press Pay: load the page, then post its form with the page's CSRF token, as the browser does."""
    browser = requests.Session()
    page = browser.get(checkout_url, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    token = CSRF_INPUT.search(page.text)
    assert token, "the checkout form carries a CSRF token"
    paid = browser.post(
        checkout_url,
        data={"csrfmiddlewaretoken": token.group(1), "action": "pay"},
        headers={"Referer": checkout_url},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert paid.status_code == 302, paid.text
    assert "/renewal/success" in paid.headers["Location"]


def task_runs(metrics_dir: Path, job: str, outcome: str) -> float:
    """esim_task_runs_total{job, outcome} summed over every process that wrote to `metrics_dir`."""
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(metrics_dir))
    return registry.get_sample_value("esim_task_runs_total", {"job": job, "outcome": outcome}) or 0.0


def wait_for(condition, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_make_run_fulfils_a_paid_renewal_in_its_worker_and_runs_scheduled_jobs(make_run):
    base_url, env, files = make_run
    database = files / "db.sqlite3"

    created = requests.post(f"{base_url}/api/esim/renewal/create/", json=FRONTEND_BODY, timeout=TIMEOUT)
    assert created.status_code == 201, created.text
    order_id = created.json()["order"]["order_id"]
    # The page is served by our server whatever host the link names (it comes from settings).
    pay_on_the_checkout_page(base_url + urlsplit(created.json()["payment"]["checkout_url"]).path)

    def completed():
        polled = requests.get(f"{base_url}/api/esim/renewal/order/{order_id}/", timeout=TIMEOUT)
        assert polled.status_code == 200, polled.text
        order = polled.json()["order"]
        return order if order["status"] == "COMPLETED" else None

    order = wait_for(completed, f"order {order_id} COMPLETED (no confirm-payment call)")
    assert order["iccid"] == SEED_ICCID

    # The embedded worker claimed it (confirm would be "confirm:claim", the reconciler "reconciler:claim").
    claims = rows(
        database,
        "SELECT a.source, a.action FROM pulse_orderauditentry a JOIN pulse_renewalorder o ON o.id = a.order_id "
        "WHERE o.order_id = ? AND a.to_status = 'FULFILLING' ORDER BY a.id",
        order_id,
    )
    assert claims == [("worker", "claim")]
    assert not rows(
        database,
        "SELECT 1 FROM pulse_orderauditentry a JOIN pulse_renewalorder o ON o.id = a.order_id "
        "WHERE o.order_id = ? AND a.source = 'confirm'",
        order_id,
    )

    # Beat: the reconciler sent at start-up (never ran) and then on its schedule, every 2 s.
    wait_for(
        lambda: len(rows(database, "SELECT 1 FROM pulse_jobrun WHERE job = 'reconciler' AND ok")) >= 2,
        "two successful reconciler runs",
    )

    # The worker's pool process counted its task run (Celery's task signals) and the jobs' runs (record_job_run).
    wait_for(lambda: task_runs(files / "metrics", "fulfil_order", "success") == 1, "fulfil_order counted")
    assert task_runs(files / "metrics", "reconciler", "success") >= 2
    assert task_runs(files / "metrics", "fulfil_order", "failure") == 0

    # One sandbox world: another process sees the top-up the worker placed.
    checked = subprocess.run(
        [servers.PYTHON, "manage.py", "check_esim", SEED_ICCID, "--fresh", "--json"],
        cwd=servers.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    answer = json.loads(checked.stdout)
    assert [bundle["raw_state"] for bundle in answer["bundles"]] == ["queued", "expired"]
    assert answer["bundles"][0]["name"] == SEED_BUNDLE
