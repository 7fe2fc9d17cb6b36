"""GET /metrics: access rules, what is counted, and several gunicorn workers adding up."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from unittest.mock import Mock

import pytest
import requests
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from pulse import metrics, tasks
from pulse.models import OrderStatus, RenewalOrder
from pulse.services import jobs
from pulse.tests.staff_helpers import paid_order, sandbox_world_fixture, set_status  # noqa: F401
from tests.reliability import servers

pytestmark = pytest.mark.django_db

TOKEN = "fake-metrics-token-for-tests"
SEED = "8932042000010245583"
ROOT = Path(__file__).resolve().parents[2]


def scrape(token: str | None = TOKEN):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client().get("/metrics", **headers)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, name: str, **labels) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_off_without_a_token_when_debug_is_off(settings):
    settings.METRICS_TOKEN = ""
    settings.DEBUG = False
    assert scrape(None).status_code == 404


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"])
def test_a_missing_or_wrong_token_is_refused(settings, header):
    settings.METRICS_TOKEN = TOKEN
    extra = {"HTTP_AUTHORIZATION": header} if header else {}
    response = Client().get("/metrics", **extra)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_the_right_token_gets_prometheus_text(settings):
    settings.METRICS_TOKEN = TOKEN
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {
        "esim_http_request_duration_seconds",
        "esim_provider_call_duration_seconds",
        "esim_provider_calls",
        "esim_provider_lookups",
        "esim_index_walks",
        "esim_provider_breaker_state",
        "esim_status_cache_requests",
        "esim_renewal_orders",
        "esim_task_runs",
        "esim_task_failures",
    } <= names


def test_a_check_is_counted_by_route_provider_endpoint_and_cache(settings):
    settings.METRICS_TOKEN = TOKEN
    before = scrape().content.decode()
    client = Client()
    for _ in range(2):
        assert (
            client.post("/api/esim/check/", {"iccid": SEED}, content_type="application/json").status_code
            == 200
        )
    after = scrape().content.decode()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    route = {"route": "api/esim/check/", "method": "POST", "status": "2xx"}
    assert grew("esim_http_request_duration_seconds_count", **route) == 2
    assert grew("esim_status_cache_requests_total", result="miss") == 1
    assert grew("esim_status_cache_requests_total", result="hit") == 1
    assert grew("esim_provider_lookups_total", provider="travelroam", outcome="found") == 1
    assert grew("esim_provider_lookups_total", provider="esimcard", outcome="not_found") == 1
    assert (
        grew("esim_provider_calls_total", provider="travelroam", endpoint="esims/details", outcome="ok") == 1
    )
    assert grew("esim_index_walks_total", provider="esimcard", index="esims", kind="full", outcome="ok") == 1
    assert value(after, "esim_provider_breaker_state", provider="airhub", state="closed") == 1
    assert value(after, "esim_provider_breaker_state", provider="airhub", state="open") == 0


def test_task_runs_and_failures_by_job(settings):
    settings.METRICS_TOKEN = TOKEN
    before = scrape().content.decode()
    metrics.observe_task_run("process_renewals", "success", 0.5)
    metrics.observe_task_run("process_renewals", "failure", 1.5)
    after = scrape().content.decode()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("esim_task_runs_total", job="process_renewals", outcome="success") == 1
    assert grew("esim_task_runs_total", job="process_renewals", outcome="failure") == 1
    assert grew("esim_task_failures_total", job="process_renewals") == 1
    assert grew("esim_task_duration_seconds_count", job="process_renewals") == 2


def test_every_recorded_job_run_is_counted(settings):
    settings.METRICS_TOKEN = TOKEN
    before = scrape().content.decode()
    jobs.run_job("email_sweep")
    jobs.record_job_run("esim_index", False, 2.0, error="index rebuild failed for esimcard")
    after = scrape().content.decode()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("esim_task_runs_total", job="email_sweep", outcome="success") == 1
    assert grew("esim_task_runs_total", job="esim_index", outcome="failure") == 1
    assert grew("esim_task_failures_total", job="esim_index") == 1


def test_every_fulfil_order_task_run_is_counted_by_outcome(settings, sandbox_world, monkeypatch):
    """Celery's task signals count the top-up task (eager here, as in a worker); scheduled-job tasks
    are counted once, by record_job_run, under the job's name."""
    settings.METRICS_TOKEN = TOKEN
    before = scrape().content.decode()
    completed = paid_order(sandbox_world)  # the webhook hands the top-up to fulfil_order
    again = set_status(paid_order(sandbox_world), "PAID")
    monkeypatch.setattr(tasks.fulfilment, "fulfil", Mock(side_effect=RuntimeError("database went away")))
    with pytest.raises(RuntimeError):
        tasks.fulfil_order.delay(again.pk)  # eager mode hands the error to the caller
    failed = tasks.fulfil_order.apply(args=[again.pk], throw=False)  # as a worker ends it: FAILURE
    tasks.reconcile.delay()
    after = scrape().content.decode()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert (completed.status, again.status, failed.state) == ("COMPLETED", "PAID", "FAILURE")
    assert grew("esim_task_runs_total", job="fulfil_order", outcome="success") == 2
    assert grew("esim_task_runs_total", job="fulfil_order", outcome="failure") == 2
    assert grew("esim_task_failures_total", job="fulfil_order") == 2
    assert grew("esim_task_duration_seconds_count", job="fulfil_order") == 4
    assert grew("esim_task_runs_total", job="reconciler", outcome="success") == 1
    assert grew("esim_task_duration_seconds_count", job="reconcile") == 0  # not counted twice


def test_orders_by_state_are_read_at_scrape_time(settings, sandbox_world):
    settings.METRICS_TOKEN = TOKEN
    completed = paid_order(sandbox_world)
    set_status(paid_order(sandbox_world), "MANUAL_REVIEW")
    text = scrape().content.decode()

    assert completed.status == "COMPLETED"
    assert value(text, "esim_renewal_orders", state="COMPLETED") == 1
    assert value(text, "esim_renewal_orders", state="MANUAL_REVIEW") == 1
    assert {state: value(text, "esim_renewal_orders", state=state) for state in OrderStatus.values} == {
        state: float(RenewalOrder.objects.filter(status=state).count()) for state in OrderStatus.values
    }


@pytest.mark.slow
def test_several_gunicorn_workers_add_up_in_every_scrape(tmp_path):
    """prometheus_client multiprocess mode: whichever worker answers a scrape, it counts every worker's requests."""
    env = servers.base_environment()
    database = tmp_path / "metrics.sqlite3"
    env.update(
        DJANGO_SETTINGS_MODULE="esim_status_checker.settings.base",
        ESIM_READ_DOTENV="false",
        DEBUG="false",
        SECRET_KEY="fake-secret-key-for-the-metrics-test-0123456789abcdef",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        DATABASE_URL=f"sqlite:///{database}",
        ESIM_SANDBOX="true",
        PAYMENT_GATEWAY="sandbox",
        SANDBOX_PAYMENTS_ALLOWED="true",
        LOG_FILE="",
        THROTTLE_CHECK="",
        METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "prometheus"),
    )
    subprocess.run(
        [servers.PYTHON, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = servers.free_port()
    argv = [
        servers.GUNICORN, "-c", "esim_status_checker/gunicorn_conf.py", "esim_status_checker.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", "2", "--threads", "2", "--worker-class", "gthread",
    ]  # fmt: skip
    proc = servers.start("gunicorn-metrics", argv, env=env, log_dir=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        servers.drain_stdout(proc, tmp_path / "gunicorn-metrics.log")
        servers.wait_until_ready(f"{base}/api/esim/currency/supported/", proc)

        def bad_check(_):
            # Invalid ICCID: a 400 without provider calls; a new connection each time spreads the workers.
            return requests.post(
                f"{base}/api/esim/check/", json={"iccid": "123"}, headers={"Connection": "close"}, timeout=10
            ).status_code

        # Workers boot one after the other (each imports and warms up the app): keep sending until both
        # have answered some, at least 40 requests in all.
        sent, pids = 0, set()
        deadline = time.monotonic() + 60
        while (sent < 40 or len(pids) < 2) and time.monotonic() < deadline:
            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(bad_check, range(8))) == {400}
            sent += 8
            pids = {p.name.rsplit("_", 1)[1] for p in (tmp_path / "prometheus").glob("histogram_*.db")}
        counts = []
        for _ in range(6):
            text = requests.get(
                f"{base}/metrics",
                headers={"Authorization": f"Bearer {TOKEN}", "Connection": "close"},
                timeout=10,
            ).text
            counts.append(
                value(
                    text,
                    "esim_http_request_duration_seconds_count",
                    route="api/esim/check/",
                    method="POST",
                    status="4xx",
                )
            )
    finally:
        servers.stop(proc)
    assert len(pids) == 2, f"one worker answered everything ({pids}); the sum below proves nothing then"
    assert counts == [float(sent)] * 6
