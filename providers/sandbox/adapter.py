"""In-process transport: a ``requests`` adapter that hands requests to a ``SandboxWorld`` without sockets.

    session = requests.Session()
    mount_sandbox(session, world)
    session.post(sandbox_base_urls()["airhub"] + "/api/Authentication/UserLogin", json={...}, timeout=5)

The adapter honours ``timeout``: when the simulated handling (latency, ``timeout``/``slow`` faults) would
outlast the read timeout it waits ~that timeout and raises ``requests.exceptions.ReadTimeout``; the
``connection_refused`` fault raises ``requests.exceptions.ConnectionError``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Mapping
from datetime import timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

from providers.sandbox.world import SandboxWorld
from providers.sandbox.wsgi import READ_TIMEOUT_KEY, SimulatedConnectionRefused, SimulatedTimeout

SANDBOX_BASE = "http://sandbox.invalid"
PROVIDER_NAMES = ("airhub", "esimcard", "travelroam", "currencyfreaks")


def sandbox_base_urls(base: str = SANDBOX_BASE) -> dict[str, str]:
    """Base URL of each simulated provider under ``base`` (the in-process prefix or a server URL)."""
    base = base.rstrip("/")
    return {name: f"{base}/{name}" for name in PROVIDER_NAMES}


def _read_timeout(timeout: Any) -> float | None:
    """The read part of what requests passes: None, a number, a (connect, read) tuple or urllib3 Timeout."""
    if timeout is None:
        return None
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else timeout[0]
    if hasattr(timeout, "read_timeout"):
        timeout = timeout.read_timeout
    return float(timeout) if isinstance(timeout, int | float) else None


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    if hasattr(body, "read"):
        return _body_bytes(body.read())
    return b"".join(_body_bytes(chunk) for chunk in body)  # a generator of chunks


def build_environ(request: requests.PreparedRequest, read_timeout: float | None) -> dict[str, Any]:
    parts = urlsplit(request.url or "")
    body = _body_bytes(request.body)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": (request.method or "GET").upper(),
        "SCRIPT_NAME": "",
        "PATH_INFO": unquote(parts.path or "/"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "sandbox.invalid",
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme or "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        READ_TIMEOUT_KEY: read_timeout,
    }
    for name, value in (request.headers or {}).items():
        key = name.upper().replace("-", "_")
        if key == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif key != "CONTENT_LENGTH":
            environ[f"HTTP_{key}"] = value
    return environ


class SandboxAdapter(BaseAdapter):
    """Transport adapter that answers from a SandboxWorld in-process."""

    def __init__(self, world: SandboxWorld) -> None:
        super().__init__()
        self.world = world

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        started = time.monotonic()
        environ = build_environ(request, _read_timeout(timeout))
        try:
            answer = self.world.handle(environ)
        except SimulatedTimeout as exc:
            raise requests.exceptions.ReadTimeout(str(exc), request=request) from exc
        except SimulatedConnectionRefused as exc:
            raise requests.exceptions.ConnectionError(str(exc), request=request) from exc
        return self._build_response(request, answer.status, answer.wsgi_headers(), answer.body, started)

    def _build_response(
        self,
        request: requests.PreparedRequest,
        status: int,
        headers: list[tuple[str, str]],
        body: bytes,
        started: float,
    ) -> requests.Response:
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response.encoding = get_encoding_from_headers(response.headers) or "utf-8"
        response.reason = _reason(status)
        response.url = request.url or ""
        response.request = request
        response.connection = self
        response.raw = io.BytesIO(body)
        # Body already complete: serve .content and iter_content() from memory.
        response._content = body
        response._content_consumed = True
        response.elapsed = timedelta(seconds=time.monotonic() - started)
        return response

    def close(self) -> None:
        """Nothing to release: no sockets, no pools."""


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def mount_sandbox(session: requests.Session, world: SandboxWorld) -> None:
    """Route every request for ``SANDBOX_BASE`` through ``world`` in-process."""
    session.mount(SANDBOX_BASE, SandboxAdapter(world))
