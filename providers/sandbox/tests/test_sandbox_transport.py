"""The two transports themselves: the requests adapter's Response, the HTTP server and the CLI."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import requests

from providers.sandbox import (
    SANDBOX_BASE,
    build_world,
    mount_sandbox,
    sandbox_base_urls,
    start_server,
    stop_server,
)
from providers.sandbox.tests.helpers import Sandbox

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_base_urls():
    assert sandbox_base_urls() == {
        "airhub": f"{SANDBOX_BASE}/airhub",
        "esimcard": f"{SANDBOX_BASE}/esimcard",
        "travelroam": f"{SANDBOX_BASE}/travelroam",
        "currencyfreaks": f"{SANDBOX_BASE}/currencyfreaks",
    }
    assert sandbox_base_urls("http://127.0.0.1:8765/")["airhub"] == "http://127.0.0.1:8765/airhub"


def test_adapter_builds_a_real_response():
    session = requests.Session()
    mount_sandbox(session, build_world())
    url = f"{SANDBOX_BASE}/currencyfreaks/rates/latest"
    response = session.get(url, params={"apikey": "sandbox-currencyfreaks-key"}, timeout=(1, 2))
    assert response.ok
    assert response.url.startswith(url)
    assert response.request.method == "GET"
    assert response.encoding == "utf-8"
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Content-Length"]) == len(response.content)
    assert b"".join(response.iter_content(16)) == response.content
    assert response.elapsed.total_seconds() >= 0
    assert response.reason == "OK"


def test_unknown_service_and_path(sandbox: Sandbox):
    base = sandbox.urls["airhub"].rsplit("/", 1)[0]
    assert sandbox.session.get(f"{base}/nowhere/x", timeout=5).status_code == 404
    assert sandbox.session.get(f"{sandbox.urls['travelroam']}/nope", timeout=5).status_code == 404
    assert sandbox.session.get(f"{sandbox.urls['travelroam']}/catalogue", timeout=5).status_code == 405


def test_server_keeps_connections_alive():
    server, thread, base_url = start_server(build_world())
    try:
        parts = urlsplit(base_url)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        for _ in range(3):  # three requests on one socket
            connection.request("GET", "/currencyfreaks/rates/latest?apikey=sandbox-currencyfreaks-key")
            response = connection.getresponse()
            assert response.status == 200
            assert json.loads(response.read())["base"] == "USD"
            assert response.getheader("Connection") != "close"
        connection.close()
    finally:
        stop_server(server, thread)


def test_cli_prints_the_chosen_port_and_serves():
    process = subprocess.Popen(
        [sys.executable, "-m", "providers.sandbox", "--port", "0", "--esims", "5"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("eSIM sandbox listening on http://127.0.0.1:")
        base_url = line.split()[4]
        meta = requests.get(f"{base_url}/_control/stats", timeout=5).json()
        assert meta["latency_ms"] == 0
    finally:
        process.terminate()
        process.wait(timeout=5)
