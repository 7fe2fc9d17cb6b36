"""Real servers for the multi-process tests: subprocesses that always die with the test.

Every subprocess starts in its own session (hence its own process group), so stopping it signals the
whole group (gunicorn's master and workers together). Stopping happens in the tests' `finally`
blocks, again at interpreter exit for anything a crash left behind, and on SIGTERM (a CI timeout)
while `stopped_on_sigterm()` is active.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import requests

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
GUNICORN = str(Path(PYTHON).with_name("gunicorn"))
_running: list[subprocess.Popen] = []
_running_lock = threading.Lock()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gunicorn_options() -> list[str]:
    # gunicorn 25+ opens a control socket in ~/.gunicorn by default; two test runs (or a benchmark)
    # would fight over it. Older versions have neither the socket nor the flag.
    help_text = subprocess.run([GUNICORN, "--help"], capture_output=True, text=True, timeout=30).stdout
    return ["--no-control-socket"] if "--no-control-socket" in help_text else []


def base_environment() -> dict[str, str]:
    """What a child needs from ours, and nothing else: pytest's process carries the TEST settings'
    environment (ESIM_SANDBOX, sandbox payments, huge throttle rates), which must not leak."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def development_environment(tmp_path: Path) -> dict[str, str]:
    """What `make run` gives the app from a fresh .env.example (DEBUG on, sandbox providers and payments,
    no credentials, no Redis), on files of the caller's own in `tmp_path`."""
    return {
        **base_environment(),
        "DJANGO_SETTINGS_MODULE": "esim_status_checker.settings.base",
        "ESIM_READ_DOTENV": "false",
        "DEBUG": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "ESIM_SANDBOX_STATE": str(tmp_path / "sandbox-world.sqlite3"),
        "LOG_FILE": "",
        "LOG_LEVEL": "WARNING",
    }


def unavailable(reason: str) -> None:
    """Skip the test, or fail it when MULTI_WORKER_REQUIRED=1 (the PostgreSQL pass of .ci/run must not
    pass by skipping)."""
    import pytest

    if os.environ.get("MULTI_WORKER_REQUIRED") == "1":
        pytest.fail(f"{reason} (MULTI_WORKER_REQUIRED=1)")
    pytest.skip(reason)


def require_redis(url: str, purpose: str):
    """A client of the Redis at `url`, or skip / fail the test (see `unavailable`)."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable at {url} ({type(exc).__name__}); needed for {purpose}")
    return client


def simulator_environment(simulator: str) -> dict[str, str]:
    """Settings that point the three providers and CurrencyFreaks at the HTTP simulators at `simulator`
    (`python -m providers.sandbox`), with the sandbox's fake credentials."""
    from providers.sandbox import SANDBOX_CREDENTIALS as creds

    return {
        "ESIM_SANDBOX": "false",
        "AIRHUB_BASE_URL": f"{simulator}/airhub",
        "AIRHUB_USERNAME": creds["airhub"]["username"],
        "AIRHUB_PASSWORD": creds["airhub"]["password"],
        "ESIMCARD_BASE_URL": f"{simulator}/esimcard",
        "ESIMCARD_EMAIL": creds["esimcard"]["email"],
        "ESIMCARD_PASSWORD": creds["esimcard"]["password"],
        "TRAVELROAM_BASE_URL": f"{simulator}/travelroam",
        "TRAVELROAM_API_KEY": creds["travelroam"]["api_key"],
        "TRAVELROAM_CLIENT_SECRET": creds["travelroam"]["client_secret"],
        "CURRENCYFREAKS_API_BASE_URL": f"{simulator}/currencyfreaks",
        "CURRENCYFREAKS_API_KEY": creds["currencyfreaks"]["api_key"],
    }


def start(name: str, argv: list[str], *, env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    log_path = log_dir / f"{name}.log"
    log = log_path.open("ab")
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        start_new_session=True,  # its own process group: one signal reaches every child it forks
    )
    with _running_lock:
        _running.append(proc)
    return proc


def banner_url(proc: subprocess.Popen, pattern: str, *, log_path: Path, timeout: float = 20.0) -> str:
    """Read stdout until a line matches `pattern` (group 1 = the URL); then keep draining it to the log."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if not ready:
            continue
        line = proc.stdout.readline().decode(errors="replace")
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            _drain(proc.stdout, log_path)
            return match.group(1)
    raise RuntimeError(f"no banner matching {pattern!r}; stdout: {seen!r}; see {log_path}")


def drain_stdout(proc: subprocess.Popen, log_path: Path) -> None:
    """Copy a child's stdout to its log so a full pipe never blocks it."""
    assert proc.stdout is not None
    _drain(proc.stdout, log_path)


def _drain(stream: IO[bytes], log_path: Path) -> None:
    def copy() -> None:
        with log_path.open("ab") as log, contextlib.suppress(ValueError, OSError):
            for chunk in iter(lambda: stream.readline(), b""):
                log.write(chunk)

    threading.Thread(target=copy, daemon=True, name=f"drain-{log_path.stem}").start()


def wait_until_ready(url: str, proc: subprocess.Popen, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            response = requests.get(url, timeout=2)
            if response.status_code == 200:
                return
            last = response.status_code
        except requests.RequestException as exc:
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready in {timeout}s (last: {last})")


def stop(proc: subprocess.Popen, *, grace: float = 10.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left; never raises."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # workers that outlived their master, too
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc.stdout is not None:
        with contextlib.suppress(OSError):
            proc.stdout.close()
    with _running_lock, contextlib.suppress(ValueError):
        _running.remove(proc)


@atexit.register
def _stop_leftovers() -> None:
    for proc in list(_running):
        stop(proc, grace=3.0)


@contextlib.contextmanager
def stopped_on_sigterm(*cleanups: Callable[[], object]) -> Iterator[None]:
    """While active, SIGTERM to this process stops every server and runs `cleanups` before exiting
    (pytest itself would just die, leaving servers and databases behind)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        _stop_leftovers()
        for cleanup in cleanups:
            with contextlib.suppress(Exception):
                cleanup()
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
