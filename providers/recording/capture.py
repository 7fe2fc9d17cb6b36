"""Capture at the transport: a requests adapter that sees exactly what the clients send and receive.

`Recorder.attach(provider, session, base_url)` wraps every adapter mounted on a client's session. Each
request is checked against the read-only allow-list first and refused (never sent) when it is not on
it; an allowed one goes through the real transport (HTTP, or the in-process sandbox) and its answer
is kept in memory, raw, until the recording is redacted as a whole (`RawExchange.redact`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter

from providers.recording.allowlist import Endpoint, allowed_endpoint
from providers.recording.fixture import Exchange
from providers.recording.redact import Redactor

# Request headers worth keeping: how the body was sent and which credentials went along (redacted).
REQUEST_HEADERS = frozenset({"content-type", "accept", "authorization", "x-api-key", "clientsecret"})
# Response headers that change what a client does; the rest (cookies, server, dates) is dropped.
RESPONSE_HEADERS = frozenset(
    {
        "content-type", "retry-after", "www-authenticate", "location", "deprecation", "sunset",
        "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
        "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset",
    }
)  # fmt: skip


class RecordingRefused(Exception):
    """A recording tried a request outside the read-only allow-list; it was not sent."""


@dataclass(frozen=True)
class RawExchange:
    """One request and its answer exactly as seen on the wire; held in memory until redacted."""

    provider: str
    endpoint: Endpoint
    path: str
    query: list[tuple[str, str]]
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    content: bytes
    elapsed_ms: int

    def redact(self, redactor: Redactor) -> Exchange:
        content_type = next((v for k, v in self.response_headers.items() if k.lower() == "content-type"), "")
        body, body_text = _decode(self.content, redactor, content_type)
        request_body, request_text = _decode(self.request_body, redactor)
        return Exchange(
            provider=self.provider,
            endpoint=self.endpoint.name,
            method=self.endpoint.method,
            path=redactor.text(self.path),
            query=[[name, _redact_value(redactor, name, value)] for name, value in self.query],
            request_headers=_headers(redactor, self.request_headers, REQUEST_HEADERS),
            request_body=request_body if request_text is None else request_text,
            status=self.status,
            response_headers=_headers(redactor, self.response_headers, RESPONSE_HEADERS),
            body=body,
            body_text=body_text,
            elapsed_ms=self.elapsed_ms,
            match_body=self.endpoint.match_body,
        )


def _redact_value(redactor: Redactor, name: str, value: str) -> str:
    return str(redactor.json(value, key=name))


def _decode(content: bytes, redactor: Redactor, content_type: str = "") -> tuple[Any, str | None]:
    """(redacted JSON, None) for a JSON body, (None, redacted text) for anything else: CSV by column,
    other text by pattern."""
    if not content:
        return None, None
    try:
        return redactor.json(json.loads(content)), None
    except (ValueError, UnicodeDecodeError):
        pass
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"<{len(content)} bytes of binary content, not recorded>"
    return None, redactor.csv(text) if "csv" in content_type.lower() else redactor.text(text)


def _headers(redactor: Redactor, headers: Mapping[str, str], keep: frozenset[str]) -> dict[str, str]:
    return {name: redactor.header(name, value) for name, value in headers.items() if name.lower() in keep}


def relative_path(base_url: str, url: str) -> str | None:
    """The request path below the provider's base URL, or None for a URL outside it."""
    base, target = urlsplit(base_url), urlsplit(url)
    if (base.scheme.lower(), base.netloc.lower()) != (target.scheme.lower(), target.netloc.lower()):
        return None
    prefix = base.path.rstrip("/")
    if target.path != prefix and not target.path.startswith(prefix + "/"):
        return None
    return target.path[len(prefix) :] or "/"


class RecordingAdapter(BaseAdapter):
    """Wraps the adapter a session already had: allow-list check, real send, raw capture."""

    def __init__(self, inner: BaseAdapter, recorder: Recorder, provider: str, base_url: str) -> None:
        super().__init__()
        self.inner = inner
        self.recorder = recorder
        self.provider = provider
        self.base_url = base_url

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        method = (request.method or "GET").upper()
        path = relative_path(self.base_url, request.url or "")
        endpoint = allowed_endpoint(self.provider, method, path) if path is not None else None
        if endpoint is None or path is None:
            shown = path if path is not None else "a URL outside the provider's base URL"
            self.recorder.refused.append(f"{self.provider}: {method} {shown}")
            raise RecordingRefused(f"{self.provider}: {method} {shown} is not a read-only endpoint")
        started = time.monotonic()
        response = self.inner.send(request, **kwargs)
        content = response.content  # read now; requests serves .json() from the same bytes
        self.recorder.add(
            RawExchange(
                provider=self.provider,
                endpoint=endpoint,
                path=path,
                query=parse_qsl(urlsplit(request.url or "").query, keep_blank_values=True),
                request_headers=dict(request.headers),
                request_body=_body_bytes(request.body),
                status=response.status_code,
                response_headers=dict(response.headers),
                content=content or b"",
                elapsed_ms=round((time.monotonic() - started) * 1000),
            )
        )
        return response

    def close(self) -> None:
        self.inner.close()


def _body_bytes(body: Any) -> bytes:
    if body is None:
        return b""
    return body if isinstance(body, bytes) else str(body).encode("utf-8")


class Recorder:
    """Collects raw exchanges per provider from any number of client threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._raw: dict[str, list[RawExchange]] = {}
        self.refused: list[str] = []

    def attach(self, provider: str, session: requests.Session, base_url: str) -> None:
        """Route every request of `session` through the allow-list and the capture."""
        for prefix, adapter in list(session.adapters.items()):
            session.mount(prefix, RecordingAdapter(adapter, self, provider, base_url))

    def add(self, exchange: RawExchange) -> None:
        with self._lock:
            self._raw.setdefault(exchange.provider, []).append(exchange)

    def raw(self, provider: str) -> list[RawExchange]:
        with self._lock:
            return list(self._raw.get(provider, ()))
