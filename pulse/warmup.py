"""What a fresh worker process would otherwise do in its first request, done when it starts.

The first check after a (re)start paid about 0.3 s before its first provider request went out
(measured in a fresh process: importing the Redis client, every view the URLconf names and the
provider clients), which is three round trips at 100 ms RTT. `warm_up()` runs when the WSGI
application is loaded (`esim_status_checker/wsgi.py`), before the worker accepts requests. It
imports and builds objects only, with no network I/O: it is safe before a fork (gunicorn --preload)
and cannot hang or fail a start when the database, Redis or a provider is down.
"""

from __future__ import annotations

import logging
import time

from django.urls import get_resolver

from pulse.services.providers import enabled_clients
from pulse.services.safe_cache import safe_cache

logger = logging.getLogger(__name__)


def warm_up() -> None:
    started = time.monotonic()
    get_resolver().url_patterns  # noqa: B018  imports every view, serializer and renderer of the routes
    safe_cache.prepare()
    enabled_clients()
    logger.debug("process warmed up in %.0f ms", (time.monotonic() - started) * 1000)
