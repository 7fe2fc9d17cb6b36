"""Real HTTP server for a SandboxWorld: threaded, HTTP/1.1 keep-alive, every answer with Content-Length.

wsgiref's simple_server closes the connection after each request, so clients could not pool connections;
this small BaseHTTPRequestHandler bridge keeps them open. The ``connection_refused`` fault closes the
socket without answering, which clients see as a ConnectionError.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from providers.sandbox.world import SandboxWorld
from providers.sandbox.wsgi import Response, SimulatedConnectionRefused, json_response

logger = logging.getLogger(__name__)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive by default
    server_version = "eSIMSandbox/1.0"
    timeout = 120  # an idle keep-alive connection is closed after this many seconds
    server: SandboxHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without NODELAY, Nagle + the client's delayed ACK
        # add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def _serve(self) -> None:
        environ = self._environ(self._read_body())
        try:
            answer = self.server.world.handle(environ)
        except SimulatedConnectionRefused:
            self._drop_connection()
            return
        except Exception:
            logger.exception("sandbox handler crashed on %s %s", self.command, self.path)
            answer = json_response({"message": "sandbox internal error"}, 500)
        self._write(answer)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()  # blank line after the last chunk (no trailers expected)
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _environ(self, body: bytes) -> dict[str, Any]:
        parts = urlsplit(self.path)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(parts.path or "/"),
            "QUERY_STRING": parts.query,
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": self.server.server_name,
            "SERVER_PORT": str(self.server.server_port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key not in ("CONTENT_LENGTH", "TRANSFER_ENCODING"):
                environ[f"HTTP_{key}"] = value
        return environ

    def _write(self, answer: Response) -> None:
        try:
            self.send_response(answer.status)
            for name, value in answer.wsgi_headers():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer.body)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its read timeout fired during a "timeout" fault).
            self.close_connection = True

    def _drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        # Access log at DEBUG through logging instead of BaseHTTPRequestHandler's stderr writes.
        logger.debug("%s - %s", self.client_address[0], format % args)


class SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # do not wait for handlers sleeping in a "timeout" fault on shutdown
    request_queue_size = 128  # benchmarks open many connections at once
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], world: SandboxWorld) -> None:
        self.world = world
        super().__init__(address, SandboxRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn), which can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


def start_server(
    world: SandboxWorld, host: str = "127.0.0.1", port: int = 0
) -> tuple[SandboxHTTPServer, threading.Thread, str]:
    """Serve ``world`` on a background daemon thread; ``port=0`` picks a free port (see base_url)."""
    server = SandboxHTTPServer((host, port), world)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="esim-sandbox", daemon=True
    )
    thread.start()
    base_url = f"http://{host}:{server.server_port}"
    logger.info("sandbox server listening on %s", base_url)
    return server, thread, base_url


def stop_server(
    server: SandboxHTTPServer, thread: threading.Thread | None = None, timeout: float = 5.0
) -> None:
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout)
