"""Servers for the benchmarks: the provider simulators, gunicorn, the database and the cache.

Every subprocess starts in its own process group (``start_new_session``) and is registered with a
`Processes` registry that kills the whole group on exit, on SIGINT/SIGTERM and on errors, so a
failed or interrupted run leaves no server behind.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import select
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import requests

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
PYTHON = sys.executable

POSTGRES_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/{name}"
REDIS_URL = "redis://127.0.0.1:6379/14"
READY_PATH = "/api/esim/currency/supported/"  # no database, cache or provider call: pure readiness


# --------------------------------------------------------------------------------------------------
# Process registry
# --------------------------------------------------------------------------------------------------


@dataclass
class Managed:
    name: str
    proc: subprocess.Popen
    log: IO[bytes] | None
    log_path: Path | None


class Processes:
    """Subprocesses started by this run, each in its own process group, stopped at exit."""

    def __init__(self) -> None:
        self._items: list[Managed] = []
        self._installed = False

    def install_handlers(self) -> None:
        if self._installed:
            return
        self._installed = True
        atexit.register(self.stop_all)
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        print(f"\nsignal {signum}: stopping every server this run started", file=sys.stderr)
        self.stop_all()
        sys.exit(128 + signum)

    def start(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log_path: Path,
        stdout_pipe: bool = False,
        cwd: Path = ROOT,
    ) -> Managed:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = log_path.open("wb")
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout_pipe else log,
            stderr=log,
            start_new_session=True,  # own process group: killpg reaches gunicorn's workers too
        )
        item = Managed(name, proc, log, log_path)
        self._items.append(item)
        return item

    def stop(self, item: Managed, timeout: float = 8.0) -> None:
        proc = item.proc
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        # Workers of a stopped master could outlive it: make sure the group is empty.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if item.log is not None:
            item.log.close()
            item.log = None
        if proc.stdout is not None:
            proc.stdout.close()
        if item in self._items:
            self._items.remove(item)

    def stop_all(self) -> None:
        for item in list(reversed(self._items)):
            with contextlib.suppress(Exception):
                self.stop(item)


_TICK = os.sysconf("SC_CLK_TCK")


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU of every live process in a process group (gunicorn master and workers)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        # after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / _TICK


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path: Path | None, lines: int = 30) -> str:
    if path is None or not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# --------------------------------------------------------------------------------------------------
# Simulators
# --------------------------------------------------------------------------------------------------


@dataclass
class Sandbox:
    managed: Managed
    base_url: str
    latency_ms: float
    esims: int
    orders: int

    def urls(self) -> dict[str, str]:
        return {name: f"{self.base_url}/{name}" for name in ("airhub", "esimcard", "travelroam")}

    def stats(self) -> dict[str, Any]:
        return requests.get(f"{self.base_url}/_control/stats", timeout=10).json()

    def latency(self) -> float:
        return float(requests.get(f"{self.base_url}/_control/latency", timeout=10).json()["ms"])


def start_sandbox(
    procs: Processes, name: str, *, latency_ms: float, esims: int, orders: int, logs: Path
) -> Managed:
    argv = [
        PYTHON,
        "-m",
        "providers.sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--latency-ms",
        str(latency_ms),
        "--esims",
        str(esims),
        "--orders",
        str(orders),
        "--log-level",
        "WARNING",
    ]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return procs.start(name, argv, env=env, log_path=logs / f"{name}.log", stdout_pipe=True)


def wait_sandbox(
    managed: Managed, *, latency_ms: float, esims: int, orders: int, timeout: float = 60
) -> Sandbox:
    """Read the 'listening on http://HOST:PORT' line the simulator prints at start-up."""
    deadline = time.monotonic() + timeout
    stdout = managed.proc.stdout
    assert stdout is not None
    line = b""
    while time.monotonic() < deadline:
        if managed.proc.poll() is not None:
            raise RuntimeError(f"{managed.name} exited:\n{log_tail(managed.log_path)}")
        ready, _, _ = select.select([stdout], [], [], 0.2)
        if ready:
            line = stdout.readline()
            break
    text = line.decode(errors="replace")
    marker = "listening on "
    if marker not in text:
        raise RuntimeError(f"{managed.name} did not start: {text!r}\n{log_tail(managed.log_path)}")
    base_url = text.split(marker, 1)[1].split()[0]
    sandbox = Sandbox(managed, base_url, latency_ms, esims, orders)
    requests.get(f"{base_url}/_control/latency", timeout=10).raise_for_status()
    return sandbox


# --------------------------------------------------------------------------------------------------
# Database and cache
# --------------------------------------------------------------------------------------------------


@dataclass
class Backends:
    """Where the app keeps its state for this run: PostgreSQL + Redis, or SQLite + process memory."""

    postgres: bool
    redis: bool
    tmpdir: Path
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        db = "PostgreSQL" if self.postgres else "SQLite (temp file)"
        cache = "Redis db 14" if self.redis else "local memory (per process)"
        return f"{db} + {cache}"

    def database_url(self, name: str) -> str:
        if self.postgres:
            return POSTGRES_URL.format(name=name)
        return f"sqlite:///{self.tmpdir / (name + '.sqlite3')}"

    def create_database(self, name: str) -> None:
        if self.postgres:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
        else:
            path = self.tmpdir / f"{name}.sqlite3"
            path.unlink(missing_ok=True)

    def drop_database(self, name: str) -> None:
        if self.postgres:
            import psycopg

            with (
                contextlib.suppress(Exception),
                psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn,
            ):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def execute(self, name: str, sql: str, params: tuple = ()) -> list[tuple]:
        if self.postgres:
            import psycopg

            with psycopg.connect(POSTGRES_URL.format(name=name), autocommit=True, connect_timeout=3) as conn:
                cur = conn.execute(sql.replace("?", "%s"), params)
                return cur.fetchall() if cur.description else []
        with contextlib.closing(sqlite3.connect(self.tmpdir / f"{name}.sqlite3", timeout=20)) as conn:
            cur = conn.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows

    def forget_known(self, name: str) -> None:
        """Nothing known: empty the ICCID -> provider table."""
        self.execute(name, "DELETE FROM pulse_knownesim")

    def terminate_idle(self, *names: str) -> int:
        """Close the app's idle database connections (gunicorn keeps one per thread for DB_CONN_MAX_AGE).

        Three servers x 32 threads would otherwise come close to PostgreSQL's max_connections (100) on
        a shared server; Django reconnects on the next request (CONN_HEALTH_CHECKS). Best effort.
        """
        if not self.postgres:
            return 0
        import psycopg

        try:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
                rows = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = ANY(%s) AND state = 'idle' AND pid <> pg_backend_pid()",
                    (list(names),),
                ).fetchall()
        except psycopg.Error:
            return 0
        return len(rows)

    def connections(self) -> int | None:
        if not self.postgres:
            return None
        import psycopg

        try:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3) as conn:
                return conn.execute("SELECT count(*) FROM pg_stat_activity").fetchone()[0]
        except psycopg.Error:
            return None

    def flush_cache(self) -> None:
        if self.redis:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).flushdb()

    def count_redis_commands(self, key_prefix: str, action: Any) -> int | None:
        """Commands on db 14 touching `key_prefix` keys while `action()` runs (Redis MONITOR).

        Only the app's own cache operations are counted, whatever else uses the Redis server.
        MONITOR slows Redis down, so callers use it in a separate, unmeasured window.
        """
        if not self.redis:
            action()
            return None
        import threading

        import redis

        sentinel = f"bench-monitor-stop-{secrets.token_hex(6)}"
        count = [0]
        ready = threading.Event()
        watcher = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)

        def watch() -> None:
            with watcher.monitor() as monitor:
                ready.set()
                for command in monitor.listen():
                    text = command.get("command", "")
                    if sentinel in text:
                        return
                    if (
                        str(command.get("db")) == REDIS_URL.rsplit("/", 1)[1]
                        and f" {key_prefix}:" in f" {text}"
                    ):
                        count[0] += 1

        thread = threading.Thread(target=watch, name="bench-redis-monitor", daemon=True)
        thread.start()
        if not ready.wait(5):
            action()
            return None
        time.sleep(0.05)
        action()
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).echo(sentinel)
        thread.join(10)
        return count[0]

    def cache_keys(self, pattern: str) -> list[str]:
        if not self.redis:
            return []
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
        return [key.decode() for key in client.scan_iter(match=pattern, count=1000)]


def detect_backends(*, force_fallback: bool = False) -> Backends:
    tmpdir = Path(tempfile.mkdtemp(prefix="esim-bench-"))
    notes: list[str] = []
    postgres = redis_ok = False
    if not force_fallback:
        try:
            import psycopg

            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            postgres = True
        except Exception as exc:  # any failure means "not reachable": fall back to SQLite
            notes.append(f"PostgreSQL not reachable ({type(exc).__name__}); using SQLite")
        try:
            import redis

            redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1).ping()
            redis_ok = True
        except Exception as exc:  # any failure means "not reachable": fall back to local memory
            notes.append(f"Redis not reachable ({type(exc).__name__}); using local memory")
    else:
        notes.append("--fallback: SQLite and local memory forced")
    return Backends(postgres=postgres, redis=redis_ok, tmpdir=tmpdir, notes=notes)


# --------------------------------------------------------------------------------------------------
# The project under gunicorn
# --------------------------------------------------------------------------------------------------

_SECRET_KEY = "bench-" + secrets.token_urlsafe(48)  # random per run; DEBUG=False needs 32+ chars


def app_env(
    *,
    backends: Backends,
    database: str,
    sandbox: Sandbox,
    cache_prefix: str,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    from providers.sandbox.credentials import SANDBOX_CREDENTIALS as creds

    urls = sandbox.urls()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRHUB_", "ESIMCARD_", "TRAVELROAM_", "STATUS_", "STRIPE_", "DJANGO_"))
    }
    env.update(
        {
            "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": "esim_status_checker.settings.base",
            "ESIM_READ_DOTENV": "false",
            "DEBUG": "false",
            "SECRET_KEY": _SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "false",
            "DATABASE_URL": backends.database_url(database),
            "CACHE_KEY_PREFIX": cache_prefix,
            "ESIM_SANDBOX": "false",
            "AIRHUB_BASE_URL": urls["airhub"],
            "AIRHUB_USERNAME": creds["airhub"]["username"],
            "AIRHUB_PASSWORD": creds["airhub"]["password"],
            "ESIMCARD_BASE_URL": urls["esimcard"],
            "ESIMCARD_EMAIL": creds["esimcard"]["email"],
            "ESIMCARD_PASSWORD": creds["esimcard"]["password"],
            "TRAVELROAM_BASE_URL": urls["travelroam"],
            "TRAVELROAM_API_KEY": creds["travelroam"]["api_key"],
            "TRAVELROAM_CLIENT_SECRET": creds["travelroam"]["client_secret"],
            "PAYMENT_GATEWAY": "sandbox",
            "SANDBOX_PAYMENTS_ALLOWED": "true",
            "LOG_LEVEL": "WARNING",
            "LOG_FILE": "",
            # Every request comes from 127.0.0.1: the per-IP limits (30 checks/min) would answer 429.
            "THROTTLE_CHECK": "",
            "THROTTLE_CURRENCY": "",
        }
    )
    if backends.redis:
        env["REDIS_URL"] = REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    env.update(extra or {})
    return env


def migrate(env: dict[str, str], logs: Path, name: str) -> None:
    migrate_all({name: env}, logs)


def migrate_all(envs: dict[str, dict[str, str]], logs: Path, roots: dict[str, Path] | None = None) -> None:
    """`manage.py migrate` for several databases at once (each in its source tree, default ROOT)."""
    logs.mkdir(parents=True, exist_ok=True)
    running = []
    for name, env in envs.items():
        log = logs / f"migrate-{name}.log"
        out = log.open("wb")
        proc = subprocess.Popen(
            [PYTHON, "manage.py", "migrate", "--noinput"],
            cwd=(roots or {}).get(name, ROOT),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        running.append((name, proc, out, log))
    failed = []
    for name, proc, out, log in running:
        try:
            code = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            code = proc.wait()
        out.close()
        if code != 0:
            failed.append(f"migrate {name} failed:\n{log_tail(log)}")
    if failed:
        raise RuntimeError("\n".join(failed))


@dataclass
class Gunicorn:
    name: str
    managed: Managed
    url: str
    port: int
    workers: int
    threads: int
    env: dict[str, str]
    root: Path = ROOT


def start_gunicorn(
    procs: Processes,
    name: str,
    env: dict[str, str],
    *,
    workers: int,
    threads: int,
    logs: Path,
    port: int | None = None,
    timeout: float = 60,
    root: Path = ROOT,
) -> Gunicorn:
    port = port or free_port()
    argv = [
        PYTHON,
        "-m",
        "gunicorn",
        "esim_status_checker.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--worker-class",
        "gthread",
        "--timeout",
        "60",
        "--graceful-timeout",
        "3",
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
        "--error-logfile",
        "-",
        "--config",
        "/dev/null",  # ignore any gunicorn.conf.py in the working tree
    ]
    managed = procs.start(name, argv, env=env, log_path=logs / f"{name}.log", cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if managed.proc.poll() is not None:
            raise RuntimeError(f"gunicorn {name} exited:\n{log_tail(managed.log_path)}")
        try:
            if requests.get(url + READY_PATH, timeout=2).status_code == 200:
                wait_until_booted(managed.proc.pid)
                return Gunicorn(name, managed, url, port, workers, threads, env, root)
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gunicorn {name} not ready after {timeout}s:\n{log_tail(managed.log_path)}")


def wait_until_booted(pgid: int, *, timeout: float = 20.0, window: float = 0.25) -> None:
    """Wait until every worker has booted: the first one answering does not mean the others are up.

    A booting worker imports Django and warms up (about 0.3 s of CPU each); a check sent meanwhile
    competes with that for the CPUs, which is the cost of starting processes, not of the check. Booted
    means the process group used less than a tenth of a CPU over `window`, twice in a row.
    """
    deadline = time.monotonic() + timeout
    quiet = 0
    while quiet < 2 and time.monotonic() < deadline:
        before = group_cpu_seconds(pgid)
        time.sleep(window)
        quiet = quiet + 1 if group_cpu_seconds(pgid) - before < window / 10 else 0


def restart_gunicorn(procs: Processes, server: Gunicorn, logs: Path) -> Gunicorn:
    procs.stop(server.managed)
    return start_gunicorn(
        procs,
        server.name,
        server.env,
        workers=server.workers,
        threads=server.threads,
        logs=logs,
        port=server.port,
        root=server.root,
    )


# --------------------------------------------------------------------------------------------------
# The commit to compare with
# --------------------------------------------------------------------------------------------------


def baseline_tree(commit: str) -> Path:
    """A git worktree of `commit` (made once, then reused), for running that version beside this one."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"esim-bench-base-{sha[:12]}"
    if not (path / "manage.py").exists():
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, capture_output=True, check=False)
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--force", str(path), sha],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
    return path


# --------------------------------------------------------------------------------------------------
# Machine
# --------------------------------------------------------------------------------------------------


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine() -> dict[str, Any]:
    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    commit = ""
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    return {
        "loadavg_at_start": load_average(),
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu_model": cpu_model,
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "git_commit": commit,
    }
