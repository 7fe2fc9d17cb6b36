"""Run the provider simulators as a real HTTP server and point the settings at it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from django.test import override_settings

from providers.sandbox import (
    SANDBOX_CREDENTIALS,
    SandboxWorld,
    build_world,
    sandbox_base_urls,
    start_server,
    stop_server,
)


@contextlib.contextmanager
def http_sandbox(*, wrap: Callable[[SandboxWorld], Any] | None = None, **world_options) -> Iterator[tuple]:
    """Yield (world, base_url) with ESIM_SANDBOX off and the three base URLs on 127.0.0.1.

    `wrap(world)` may return an object with the world's `handle(environ)` for the server to call
    instead (to alter answers on the wire)."""
    world = build_world(**world_options)
    server, thread, base_url = start_server(wrap(world) if wrap else world, host="127.0.0.1", port=0)
    urls = sandbox_base_urls(base_url)
    creds = SANDBOX_CREDENTIALS
    try:
        with override_settings(
            ESIM_SANDBOX=False,
            AIRHUB_BASE_URL=urls["airhub"],
            AIRHUB_USERNAME=creds["airhub"]["username"],
            AIRHUB_PASSWORD=creds["airhub"]["password"],
            ESIMCARD_BASE_URL=urls["esimcard"],
            ESIMCARD_EMAIL=creds["esimcard"]["email"],
            ESIMCARD_PASSWORD=creds["esimcard"]["password"],
            TRAVELROAM_BASE_URL=urls["travelroam"],
            TRAVELROAM_API_KEY=creds["travelroam"]["api_key"],
            TRAVELROAM_CLIENT_SECRET=creds["travelroam"]["client_secret"],
            PROVIDER_TIMEOUT=5.0,
            PROVIDER_CONNECT_TIMEOUT=2.0,
        ):
            yield world, base_url
    finally:
        stop_server(server, thread)
