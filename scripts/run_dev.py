"""`make run`: Django's development server and a Celery worker with embedded beat, as one command.

With no broker configured the worker uses kombu's file-system transport (`CELERY_FILESYSTEM_DIR`,
`var/celery/` in the project), so a fresh clone runs the whole flow — webhook, background top-up,
scheduled jobs — with no Redis and no second terminal. Ctrl-C (or SIGTERM) stops both children;
if either exits on its own, the other is stopped too and its exit code is ours.

    python scripts/run_dev.py [--host 0.0.0.0] [--port 8000] [--no-worker]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GRACE_SECONDS = 10.0


def commands(host: str, port: str, worker: bool) -> dict[str, list[str]]:
    python = sys.executable
    wanted = {"web": [python, "manage.py", "runserver", f"{host}:{port}"]}
    if worker:
        wanted["worker"] = [
            str(Path(python).with_name("celery")),
            "-A",
            "esim_status_checker",
            "worker",
            "--beat",  # scheduled jobs in the same process: development only (docs/background.md)
            "--loglevel",
            "INFO",
            "--concurrency",
            "2",
        ]
    return wanted


def start(argv: list[str]) -> subprocess.Popen:
    # A session of its own: one signal reaches the child's own children (runserver's reloader,
    # celery's pool processes), and Ctrl-C reaches the children only through us, once.
    return subprocess.Popen(argv, cwd=ROOT, start_new_session=True)  # noqa: S603 - our own argv


def stop(children: dict[str, subprocess.Popen]) -> None:
    """What Ctrl-C in a terminal does (SIGINT to each child's whole process group: celery shuts down
    warm, its pool processes ignore it, runserver's reloader and server both exit), then SIGKILL
    for whatever is left after the grace period."""
    for child in children.values():
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGINT)
    deadline = time.monotonic() + GRACE_SECONDS
    for child in children.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
    for child in children.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)  # also an orphaned grandchild of a child that exited
        child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - the dev server, as `make run` always did
    parser.add_argument("--port", default="8000")
    parser.add_argument("--no-worker", action="store_true", help="the web server only")
    args = parser.parse_args(argv)

    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children = {
        name: start(argv) for name, argv in commands(args.host, args.port, not args.no_worker).items()
    }
    code = 0
    try:
        while not stopping:
            ended = {name: child.returncode for name, child in children.items() if child.poll() is not None}
            if ended:
                name, code = next(iter(ended.items()))
                sys.stderr.write(f"run_dev: {name} exited with {code}; stopping the rest\n")
                break
            time.sleep(0.2)
    finally:
        stop(children)
    return code


if __name__ == "__main__":
    sys.exit(main())
