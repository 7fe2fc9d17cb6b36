"""WSGI entry point for gunicorn: `gunicorn esim_status_checker.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esim_status_checker.settings.base")

application = get_wsgi_application()
