"""ASGI entry point (the service is synchronous; WSGI under gunicorn is the supported way)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esim_status_checker.settings.base")

application = get_asgi_application()
