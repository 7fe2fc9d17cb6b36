"""A tiny WSGI toolkit for the sandbox simulators: request parsing, JSON responses and a path router.

Kept dependency-free (stdlib only) so the simulators run in-process (through ``adapter.SandboxAdapter``)
and behind the threaded HTTP server (``server.py``) with exactly the same code.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

# Keys the in-process adapter puts into the environ so that simulated delays can honour the client's
# read timeout without really sleeping for the whole fault delay.
READ_TIMEOUT_KEY = "sandbox.read_timeout"
SLEPT_KEY = "sandbox.slept"


class SimulatedTimeout(Exception):
    """The simulated handling took longer than the client's read timeout (in-process only)."""


class SimulatedConnectionRefused(Exception):
    """The simulator wants the client to see a dropped / refused connection."""


class BadRequest(Exception):
    """The request body could not be parsed."""


def simulated_sleep(environ: dict[str, Any], seconds: float) -> None:
    """Sleep ``seconds``, or raise SimulatedTimeout after ~the client's read timeout if that is shorter."""
    if seconds <= 0:
        return
    budget = environ.get(READ_TIMEOUT_KEY)
    if budget is None:
        time.sleep(seconds)
        return
    spent = environ.get(SLEPT_KEY, 0.0)
    remaining = max(budget - spent, 0.0)
    if seconds > remaining:
        time.sleep(remaining)
        raise SimulatedTimeout(f"simulated handling exceeded the read timeout of {budget}s")
    time.sleep(seconds)
    environ[SLEPT_KEY] = spent + seconds


@dataclass
class Request:
    """The parts of a WSGI request the simulators need; ``path`` is relative to the provider prefix."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    environ: dict[str, Any] = field(repr=False)

    def header(self, name: str) -> str | None:
        """Header lookup, case-insensitive as HTTP requires."""
        return self.headers.get(name.lower())

    @property
    def bearer_token(self) -> str | None:
        value = self.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def data(self) -> dict[str, Any]:
        """JSON or form body as a dict ({} when empty). Raises BadRequest on malformed JSON."""
        if not self.body.strip():
            return {}
        content_type = (self.header("content-type") or "").lower()
        if "application/x-www-form-urlencoded" in content_type:
            parsed = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
            return {key: values[-1] for key, values in parsed.items()}
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise BadRequest("malformed JSON body") from exc
        if not isinstance(value, dict):
            raise BadRequest("JSON body must be an object")
        return value


def request_from_environ(environ: dict[str, Any], path: str | None = None) -> Request:
    """Build a Request from a WSGI environ; ``path`` overrides PATH_INFO (used after prefix dispatch)."""
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ.get("wsgi.input")
    body = stream.read(length) if stream is not None and length > 0 else b""
    query = {key: values[-1] for key, values in parse_qs(environ.get("QUERY_STRING", "")).items()}
    return Request(
        method=environ.get("REQUEST_METHOD", "GET").upper(),
        path=path if path is not None else environ.get("PATH_INFO", "/"),
        query=query,
        headers=headers,
        body=body,
        environ=environ,
    )


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)

    def status_line(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Unknown"
        return f"{self.status} {phrase}"

    def wsgi_headers(self) -> list[tuple[str, str]]:
        # Content-Length is always set so HTTP/1.1 keep-alive works behind the threaded server.
        headers = [(k, v) for k, v in self.headers if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(self.body))))
        return headers

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(self.status_line(), self.wsgi_headers())
        return [self.body]


def json_response(data: Any, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    return Response(status, body, [("Content-Type", "application/json"), *(headers or [])])


def empty_response(status: int, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, b"", list(headers or []))


Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    method: str
    pattern: str
    handler: Handler
    auth: bool
    writes: bool = False  # changes the world's shared state (login tokens, top-ups): see world.py


@dataclass(frozen=True)
class Match:
    route: Route
    params: dict[str, str]


class Router:
    """Method + path router. Static paths are a dict lookup; ``{name}`` segments become keyword params."""

    def __init__(self, *, case_insensitive: bool = False) -> None:
        # AirHub runs on ASP.NET, whose routing ignores case; Laravel (eSIMCard) and others do not.
        self._case_insensitive = case_insensitive
        self._static: dict[tuple[str, str], Route] = {}
        self._dynamic: list[tuple[list[str], Route]] = []
        self._paths: set[str] = set()
        self.routes: list[Route] = []  # every route, in registration order

    def add(
        self, method: str, pattern: str, handler: Handler, *, auth: bool = True, writes: bool = False
    ) -> None:
        route = Route(method.upper(), pattern, handler, auth, writes)
        segments = pattern.strip("/").split("/")
        if any(seg.startswith("{") for seg in segments):
            self._dynamic.append((segments, route))
        else:
            self._static[(route.method, self._key(pattern))] = route
        self._paths.add(pattern)
        self.routes.append(route)

    def match(self, method: str, path: str) -> Match | None:
        route = self._static.get((method.upper(), self._key(path)))
        if route is not None:
            return Match(route, {})
        parts = path.strip("/").split("/")
        for segments, route in self._dynamic:
            if route.method != method.upper() or len(segments) != len(parts):
                continue
            params = _match_segments(segments, parts, self._case_insensitive)
            if params is not None:
                return Match(route, params)
        return None

    def _key(self, path: str) -> str:
        key = "/" + path.strip("/")
        return key.lower() if self._case_insensitive else key

    def path_exists(self, path: str) -> bool:
        """True when some route has this path under another method (so the answer is 405, not 404)."""
        return any(self.match(method, path) for method in ("GET", "POST", "PUT", "PATCH", "DELETE"))


def _match_segments(segments: list[str], parts: list[str], case_insensitive: bool) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for segment, part in zip(segments, parts, strict=True):
        if segment.startswith("{") and segment.endswith("}"):
            if not part:
                return None
            params[segment[1:-1]] = part
        elif segment != part and not (case_insensitive and segment.lower() == part.lower()):
            return None
    return params
