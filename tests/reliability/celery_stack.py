"""Real processes for the Celery worker tests and the webhook benchmark (docs/background.md §8).

- the provider simulators as one HTTP server (`python -m providers.sandbox`), so the web process and
  every worker see the same provider state (top-ups, faults) and the test reads it over /_control;
- gunicorn (the web process) and `celery -A esim_status_checker worker` processes, optionally with
  embedded beat, all on one database and one broker;
- a private `redis-server` on a free port: a broker the tests can stop and start again.

Every process starts in its own process group (tests/reliability/servers.py) and is stopped in the
callers' `finally` blocks, at interpreter exit, and on SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from tests.reliability import servers

WEBHOOK_SECRET = "whsec_test_fake"  # the sandbox gateway signs with it when set; web and test agree
SECRET_KEY = "fake-celery-test-secret-key-0123456789-abcdefghijklmnop"
SEED_ICCID = "8932042000010245583"  # TravelRoam: its API can say whether a top-up happened
TOP_UP_PATH = "processorders"  # TravelRoam's top-up endpoint in the simulator
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def database_url(settings_dict: dict[str, Any]) -> str:
    """A DATABASE_URL for the database Django is connected to (the test database, in pytest)."""
    user = quote(settings_dict.get("USER") or "postgres")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}" if password else user
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{settings_dict['NAME']}"


def app_environment(
    *, db_url: str, simulator: str, cache_url: str, broker_url: str, prefix: str, **overrides: str
) -> dict[str, str]:
    """The environment of every web and worker process: production settings, the sandbox gateway,
    the HTTP simulators as the providers, short leases so the tests wait seconds, not minutes."""
    env = {
        **servers.base_environment(),
        "DJANGO_SETTINGS_MODULE": "esim_status_checker.settings.base",
        "ESIM_READ_DOTENV": "false",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",
        "LOG_FILE": "",
        "LOG_LEVEL": "INFO",
        "DATABASE_URL": db_url,
        "DB_CONN_MAX_AGE": "0",  # no idle connections left behind between tests
        "REDIS_URL": cache_url,
        "CACHE_KEY_PREFIX": prefix,
        "CELERY_BROKER_URL": broker_url,
        "CELERY_QUEUE_PREFIX": prefix,
        **servers.simulator_environment(simulator),
        "PAYMENT_GATEWAY": "sandbox",
        "SANDBOX_PAYMENTS_ALLOWED": "true",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FRONTEND_URL": "http://127.0.0.1:3000",
        # Where the sandbox checkout page would be linked from; the tests pay through the gateway itself.
        "PUBLIC_BASE_URL": "http://127.0.0.1:8000",
        "THROTTLE_CREATE": "",
        "THROTTLE_CONFIRM": "",
        "THROTTLE_CHECK": "",
        "PROVIDER_TIMEOUT": "15",
        # Every scheduled job off unless a worker runs beat for the test that wants it.
        "SCHEDULE_RECONCILER_SECONDS": "0",
        "SCHEDULE_EMAIL_SWEEP_SECONDS": "0",
        "SCHEDULE_ESIM_INDEX_SECONDS": "0",
        "SCHEDULE_CATALOG_SYNC_SECONDS": "0",
    }
    env.update(overrides)
    return env


@dataclass
class Worker:
    name: str
    proc: subprocess.Popen
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pool_pids(self) -> list[int]:
        """The pool processes (prefork children) of this worker."""
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True, check=False)
        return [int(pid) for pid in out.stdout.split()]

    def kill(self) -> None:
        """SIGKILL the whole worker at once: no warm shutdown, nothing acknowledged or handed back."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


@dataclass
class Stack:
    log_dir: Path
    simulator: str
    env: dict[str, str]
    procs: list[subprocess.Popen] = field(default_factory=list)
    workers: list[Worker] = field(default_factory=list)

    # --- the simulator ----------------------------------------------------------------------------

    def control(self, method: str, path: str, **kwargs) -> dict:
        response = requests.request(method, f"{self.simulator}/_control{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def topups(self) -> list[dict]:
        return self.control("GET", "/topups")["topups"]

    def slow_top_ups(self, seconds: float, times: int | None = None) -> None:
        """The provider carries the top-up out at once but answers `seconds` later."""
        fault = {"provider": "travelroam", "mode": "slow", "delay_s": seconds, "path_contains": TOP_UP_PATH}
        if times is not None:
            fault["times"] = times
        self.control("POST", "/faults", json=fault)

    # --- processes ----------------------------------------------------------------------------------

    def start_web(self, name: str = "web", *, workers: int = 2, **overrides: str) -> str:
        port = servers.free_port()
        proc = servers.start(
            name,
            [
                servers.GUNICORN, "esim_status_checker.wsgi:application",
                "-w", str(workers), "--threads", "4", "-b", f"127.0.0.1:{port}",
                "--graceful-timeout", "5", "--timeout", "60", *servers.gunicorn_options(),
            ],
            env={**self.env, **overrides},
            log_dir=self.log_dir,
        )  # fmt: skip
        self.procs.append(proc)
        servers.drain_stdout(proc, self.log_dir / f"{name}.log")
        url = f"http://127.0.0.1:{port}"
        servers.wait_until_ready(f"{url}/api/esim/currency/supported/", proc, timeout=60)
        return url

    def start_worker(
        self, name: str, *, beat: bool = False, concurrency: int = 2, **overrides: str
    ) -> Worker:
        argv = [
            servers.PYTHON, "-m", "celery", "-A", "esim_status_checker", "worker",
            "--loglevel", "INFO", "--concurrency", str(concurrency), "-n", f"{name}@%h",
            "--without-mingle", "--without-gossip",
        ]  # fmt: skip
        if beat:
            argv += ["--beat", "--schedule", str(self.log_dir / f"{name}-beat-schedule")]
        proc = servers.start(name, argv, env={**self.env, **overrides}, log_dir=self.log_dir)
        self.procs.append(proc)
        log = self.log_dir / f"{name}.log"
        servers.drain_stdout(proc, log)
        worker = Worker(name, proc, log)
        wait_for(lambda: " ready." in worker.text(), f"worker {name} ready", timeout=60, proc=proc)
        self.workers.append(worker)
        return worker

    def stop(self, proc: subprocess.Popen) -> None:
        servers.stop(proc)
        with contextlib.suppress(ValueError):
            self.procs.remove(proc)

    def stop_workers(self) -> None:
        for worker in self.workers:
            self.stop(worker.proc)
        self.workers.clear()

    def stop_all(self) -> None:
        self.stop_workers()
        for proc in reversed(list(self.procs)):
            self.stop(proc)


def deliver_webhook(web: str, body: bytes, signature: str, session=None) -> tuple[requests.Response, float]:
    """POST a signed event to the webhook as Stripe does; (response, seconds until the answer)."""
    started = time.monotonic()
    response = (session or requests).post(
        f"{web}/api/esim/stripe/webhook/",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        timeout=60,
    )
    return response, time.monotonic() - started


def start_simulator(log_dir: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """`python -m providers.sandbox` on a free port (`extra`: e.g. "--esims", "200"); (process, base URL)."""
    proc = servers.start(
        "simulator",
        [servers.PYTHON, "-m", "providers.sandbox", "--port", "0", *extra],
        env=servers.base_environment(),
        log_dir=log_dir,
    )
    return proc, servers.banner_url(proc, r"listening on (http://\S+)", log_path=log_dir / "simulator.log")


class PrivateRedis:
    """A redis-server of our own (no persistence) on a fixed free port: a broker to stop and restart."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.port = servers.free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = servers.start(
            f"redis-{self.port}",
            [
                REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.log_dir),
            ],
            env=servers.base_environment(),
            log_dir=self.log_dir,
        )  # fmt: skip
        servers.drain_stdout(self.proc, self.log_dir / f"redis-{self.port}.log")
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        wait_for(lambda: _pings(client), f"redis-server on {self.port}", timeout=20, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            servers.stop(self.proc, grace=5)
            self.proc = None


def _pings(client) -> bool:
    try:
        return bool(client.ping())
    except Exception:  # not accepting connections yet
        return False


def wait_for(condition, what: str, *, timeout: float, proc: subprocess.Popen | None = None, every=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
