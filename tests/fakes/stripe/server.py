"""The fake's HTTP side: a threaded HTTP/1.1 server (keep-alive, as the SDK's session expects) that routes
``/v1/...`` to the API, ``/_test/...`` to the control routes and ``GET /pay/{id}`` to the checkout page.

    server = start_fake_stripe(webhook_url=..., webhook_secret="whsec_test_fake")   # port 0: a free port
    server.base_url; server.state (the FakeStripe); server.pay(session_id); server.stop()
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.fakes.stripe.errors import FakeStripeError
from tests.fakes.stripe.fake import FakeStripe
from tests.fakes.stripe.wire import Reply

logger = logging.getLogger(__name__)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK's requests.Session reuses connections
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, add=True)

    def finish(self) -> None:
        self.server.track(self.connection, add=False)
        super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("fake stripe http: " + format, *args)  # noqa: G003

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        state = self.server.state
        try:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
            if url.path.startswith("/v1/"):
                params = body if method == "POST" else url.query
                reply = state.handle_api(method, url.path, params, self.headers)  # type: ignore[arg-type]
            elif url.path.startswith("/_test/"):
                reply = state.handle_control(method, url.path, body, redirect="redirect=1" in url.query)
            elif url.path.startswith("/pay/") and method == "GET":
                reply = state.checkout_page(url.path.removeprefix("/pay/"))
            else:
                error = FakeStripeError(404, f"Unrecognized request URL ({method}: {url.path}).")
                reply = Reply.json(404, error.body)
        except Exception:
            # A bug in the fake must look like a Stripe 500, not like a dropped connection (an "outage").
            logger.exception("fake stripe crashed on %s %s", method, self.path)
            reply = Reply.json(
                500, FakeStripeError(500, "Fake Stripe crashed; see its log.", type_="api_error").body
            )
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if reply.status == 0:  # injected "Stripe unreachable": close without a byte of response
            self.close_connection = True
            return
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # idle keep-alive connections must not keep the process alive

    def __init__(self, address: tuple[str, int], state: FakeStripe):
        super().__init__(address, _Handler)
        self.state = state
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            (self._connections.add if add else self._connections.discard)(connection)

    def close_connections(self) -> None:
        """Cut kept-alive connections too, or a client could keep talking to a "stopped" server."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


_SHORTCUTS = frozenset(
    {
        "pay",
        "fail",
        "async_pending",
        "async_succeed",
        "expire",
        "settle_refund",
        "set_refund_mode",
        "fail_next",
        "resend_event",
        "configure_webhook",
        "wait_for_webhooks",
        "reset",
    }
)


class FakeStripeServer:
    """A running fake: ``base_url`` for ``STRIPE_API_BASE``, ``state`` to inspect, and test shortcuts."""

    def __init__(self, httpd: _Server, base_url: str):
        self.base_url = base_url
        self.state = httpd.state
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-stripe", daemon=True
        )
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        # The test-control shortcuts (pay, fail, expire, settle_refund, fail_next, ...) are FakeStripe's.
        if name in _SHORTCUTS:
            return getattr(self.state, name)
        raise AttributeError(name)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._httpd.close_connections()
        self.state.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeStripeServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_fake_stripe(
    host: str = "127.0.0.1",
    port: int = 0,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    *,
    public_base: str | None = None,
) -> FakeStripeServer:
    """Serve a fresh fake on a daemon thread (``port=0`` picks a free port) and return it running.

    ``public_base`` replaces ``base_url`` in checkout ``url``s, e.g. when bound to 0.0.0.0 in a container.
    """
    state = FakeStripe(webhook_url=webhook_url, webhook_secret=webhook_secret)
    httpd = _Server((host, port), state)
    reachable = "127.0.0.1" if host in ("", "0.0.0.0") else host
    base_url = f"http://{reachable}:{httpd.server_address[1]}"
    state.public_base = (public_base or base_url).rstrip("/")
    return FakeStripeServer(httpd, base_url)
