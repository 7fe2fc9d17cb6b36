"""The Celery app: `celery -A esim_status_checker worker` and `celery -A esim_status_checker beat`.

Configured from Django settings under the `CELERY_` namespace (`settings/base.py`, every value from
the environment). Tasks live in `pulse/tasks.py` and stay thin: they call services. No result
backend: the state of every job lives in our own tables (orders, job runs). docs/background.md.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esim_status_checker.settings.base")

app = Celery("esim_status_checker")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _create_local_folders(sender: Celery, **kwargs) -> None:
    """The file-system transport (the embedded default) reads and writes folders it does not create,
    and beat writes its schedule file into a folder it does not create either; publisher, worker and
    beat all configure the app, so whichever comes first makes them."""
    folders = [Path(sender.conf.beat_schedule_filename).parent]
    if str(sender.conf.broker_url or "").startswith("filesystem"):
        options = sender.conf.broker_transport_options or {}
        folders += [Path(options[key]) for key in ("data_folder_in", "data_folder_out", "control_folder")]
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)


@beat_init.connect
def _send_overdue_jobs(sender=None, **kwargs) -> None:
    """When beat starts, send every job that has not succeeded within its interval at once, instead of
    one interval later (a fresh install, or beat restarted without its schedule file)."""
    from django.conf import settings

    from pulse.services.jobs import overdue_jobs

    for name in overdue_jobs():
        entry = settings.CELERY_BEAT_SCHEDULE[name]
        app.send_task(entry["task"], args=entry["args"], **entry["options"])
