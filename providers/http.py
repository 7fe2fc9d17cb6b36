"""The HTTP transport every provider client uses.

One `requests.Session` per client (keep-alive pooling), an explicit (connect, read) timeout on every
call, and one mapping from transport failures and status codes to `providers.errors`. Bodies are never
logged: they can hold activation codes and tokens.

Requests go straight to the session's transport adapter (`adapter.send`), the same call
`Session.send` makes, without `Session.request`'s per-call merging of cookies, hooks, auth and
environment settings: that merging cost about a third of a provider call's CPU, and none of it
applies here — provider APIs authenticate with headers (cookies are neither sent nor kept), nothing
registers hooks, and the proxy and CA-bundle settings are resolved once per client for its host.
Mounted adapters (the in-process sandbox) and `responses` in tests see the same prepared requests.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict

from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.observe import ProviderCall, endpoint_of, provider_calls

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = (3.05, 10.0)
_MAX_ERROR_MESSAGE = 200


def build_session(pool_size: int = 32, *, base_url: str | None = None) -> requests.Session:
    """A pooled session; retries are off because only the caller knows what is safe to repeat.

    With `base_url`, the proxy and CA-bundle environment variables are read once here instead of
    on every request (requests re-reads them per call, which showed up in profiles): the session
    behaves the same for that host, including NO_PROXY.
    """
    session = requests.Session()
    if base_url:
        session.proxies = requests.utils.get_environ_proxies(base_url)
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = "esim-status-checker/2.0"
    return session


@dataclass(frozen=True)
class HttpResult:
    status: int
    body: Any
    headers: dict[str, str]


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None  # an HTTP-date: rare from APIs; the caller's default applies


def _error_message(response: requests.Response) -> str:
    """The provider's own short message, if it gave one in a JSON body."""
    try:
        body = json.loads(response.content)
    except ValueError:  # also UnicodeDecodeError: not JSON
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        for key in ("message", "error", "errorMessage", "statusMessage"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str) and value:
                return f"HTTP {response.status_code}: {value[:_MAX_ERROR_MESSAGE]}"
    return f"HTTP {response.status_code}"


class ProviderHttp:
    """Sends requests for one provider and raises typed errors.

    `not_found_statuses` lets each endpoint say which statuses mean "unknown ICCID" (TravelRoam
    answers 400, eSIMCard 404); 401/403 raise ProviderAuthError so the caller can log in again once.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.session = session or build_session(base_url=base_url)
        self.timeout = timeout
        self._clock = clock
        # Proxies, CA bundle and client certificate for this host, read once (Session.request re-reads
        # them, and the environment when trust_env is on, on every call).
        self._send_options = {
            key: value
            for key, value in self.session.merge_environment_settings(
                self.base_url, {}, False, None, None
            ).items()
            if key != "stream"
        }

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        not_found_statuses: Iterable[int] = (404,),
        timeout: tuple[float, float] | None = None,
    ) -> HttpResult:
        url = f"{self.base_url}/{path.lstrip('/')}"
        started = self._clock()
        outcome, status = "ok", None
        try:
            response = self._send(method, url, path, json_body, params, headers, timeout or self.timeout)
            status = response.status_code
            self._raise_for_status(response, path, set(not_found_statuses))
            return HttpResult(status, self._decode(response, path), dict(response.headers))
        except ProviderError as exc:
            outcome = exc.code
            raise
        finally:
            self._observe(method, path, outcome, status, started)

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        json_body: Any,
        params: dict[str, Any] | None,
        headers: dict[str, str] | None,
        timeout: tuple[float, float],
    ) -> requests.Response:
        request = self._prepare(method, url, json_body, params, headers)
        try:
            response = self.session.get_adapter(request.url).send(
                request, stream=False, timeout=timeout, **self._send_options
            )
            response.content  # noqa: B018  the body is read here, inside the error mapping
        except requests.Timeout as exc:
            raise ProviderTimeout(self.provider, f"no answer from {path} in time") from exc
        except requests.ConnectionError as exc:
            raise ProviderUnavailable(self.provider, f"cannot connect for {path}") from exc
        except requests.RequestException as exc:
            raise ProviderUnavailable(
                self.provider, f"request to {path} failed: {type(exc).__name__}"
            ) from exc
        return response

    def _prepare(
        self,
        method: str,
        url: str,
        json_body: Any,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> requests.PreparedRequest:
        """What `PreparedRequest.prepare` builds for our calls: the clients quote their path segments,
        query values are plain scalars (None dropped, as requests does), bodies are JSON.

        The headers are merged case-insensitively (a call's `accept` replaces the session's `Accept`),
        then handed on as a plain dict with the same names, values and order: urllib3 lower-cases the
        names it checks itself, and sends the same bytes, while a CaseInsensitiveDict costs ~0.1 ms of
        CPU per call in the adapter and urllib3 (every lookup and iteration is Python code)."""
        request = requests.PreparedRequest()
        request.method = method
        query = {key: value for key, value in (params or {}).items() if value is not None}
        request.url = f"{url}?{urlencode(query, doseq=True)}" if query else url
        merged = CaseInsensitiveDict(self.session.headers)
        merged.update(headers or {})
        body = None
        if json_body is not None:
            body = json.dumps(json_body, allow_nan=False).encode()
            merged.setdefault("Content-Type", "application/json")
        if body is not None or method not in ("GET", "HEAD"):
            merged["Content-Length"] = str(len(body or b""))
        request.headers = dict(merged.items())
        request.body = body
        request.hooks = {"response": []}
        return request

    def _raise_for_status(self, response: requests.Response, path: str, not_found: set[int]) -> None:
        status = response.status_code
        if status < 300:
            return
        message = _error_message(response)
        if status in not_found:
            raise ProviderNotFound(self.provider, message, status_code=status)
        if status == 429:
            raise ProviderUnavailable(
                self.provider, f"rate limited on {path}", status_code=429, retry_after=_retry_after(response)
            )
        if status >= 500:
            raise ProviderUnavailable(self.provider, f"{message} on {path}", status_code=status)
        if status in (401, 403):
            raise ProviderAuthError(self.provider, f"{message} on {path}", status_code=status)
        raise ProviderRejected(self.provider, f"{message} on {path}", status_code=status)

    def _decode(self, response: requests.Response, path: str) -> Any:
        if not response.content:
            return None
        try:
            return json.loads(response.content)  # bytes: UTF-8/16/32 detected as RFC 8259 says
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise ProviderResponseInvalid(
                self.provider, f"{path} answered HTTP {response.status_code} with a body that is not JSON"
            ) from exc

    def _observe(self, method: str, path: str, outcome: str, status: int | None, started: float) -> None:
        seconds = self._clock() - started
        failed = outcome != "ok" and (status is None or status >= 500)
        level = logging.WARNING if failed else logging.DEBUG if outcome == "ok" else logging.INFO
        if logger.isEnabledFor(level):
            logger.log(
                level,
                "%s %s %s -> %s in %.0f ms",
                self.provider,
                method,
                path,
                status if status is not None else outcome,
                seconds * 1000,
                extra={"provider": self.provider, "elapsed_ms": round(seconds * 1000)},
            )
        provider_calls.emit(ProviderCall(self.provider, method, endpoint_of(path), outcome, status, seconds))
