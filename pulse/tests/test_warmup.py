"""A worker warms up when the WSGI application loads: imports and objects, never the network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A fresh process, as a gunicorn worker is: every outgoing connection refused, then the WSGI module.
PROBE = """
import json, socket, sys

def refuse(*args, **kwargs):
    raise OSError("warm-up must not touch the network")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse

from esim_status_checker.wsgi import application  # runs warm_up()
from pulse.services import providers
from pulse.services.safe_cache import safe_cache

print(json.dumps({
    "views": "pulse.views.status" in sys.modules and "drf_spectacular.views" in sys.modules,
    "redis": "redis" in sys.modules,
    "clients": sorted(providers._clients or {}),
    "cache_client": safe_cache._shared is not None and "_cache" in vars(safe_cache._shared),
}))
"""


def _probe(**env: str) -> dict:
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "esim_status_checker.settings.test",
        "REDIS_URL": "redis://127.0.0.1:9/0",  # nothing listens there: any command would fail
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_the_wsgi_application_imports_views_and_builds_clients_without_network_io():
    state = _probe()
    assert state["views"] is True  # the URLconf was resolved: the first request imports nothing
    assert state["redis"] is True
    assert state["cache_client"] is True
    assert state["clients"] == ["airhub", "esimcard", "travelroam"]  # sandbox mode in the test settings
