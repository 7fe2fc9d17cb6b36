"""gunicorn settings for several workers with Prometheus metrics.

    PROMETHEUS_MULTIPROC_DIR=/run/esim-metrics gunicorn -c esim_status_checker/gunicorn_conf.py \\
        esim_status_checker.wsgi:application --workers 4 --threads 8 --worker-class gthread

Every worker writes its metrics to PROMETHEUS_MULTIPROC_DIR (prometheus_client multiprocess mode), so a
scrape answered by any worker adds up all of them. The master empties the directory at start: values
of a previous run must not be added to this one's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def on_starting(server) -> None:
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        Path(path).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
