"""WSGI entry point for gunicorn: `gunicorn esim_status_checker.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esim_status_checker.settings.base")

application = get_wsgi_application()

# Imports and objects the first request would otherwise build (pulse/warmup.py); no network I/O.
from pulse.warmup import warm_up  # noqa: E402  (needs the app registry that get_wsgi_application set up)

warm_up()
