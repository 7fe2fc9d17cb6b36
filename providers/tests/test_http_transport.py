"""ProviderHttp sends straight to the session's adapter: what goes over the wire, and what it honours."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from requests.adapters import HTTPAdapter

from providers.errors import ProviderTimeout, ProviderUnavailable
from providers.http import ProviderHttp, build_session


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with what it received; `/broken` promises more body than it sends."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else None
        if self.path.endswith("/broken"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b'{"cut": ')
            self.close_connection = True
            return
        echo = {
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers),
            "header_list": list(self.headers.items()),  # in order, repeats kept
            "body": body,
        }
        payload = json.dumps(echo).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer

    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_a_json_call_over_real_http_carries_headers_body_and_query(echo_url):
    http = ProviderHttp("travelroam", echo_url, timeout=(2, 2))
    result = http.request(
        "POST",
        "esims/details",
        json_body={"iccid": "8932042000010245583"},
        params={"page": 2, "filter": "a b", "skip": None},
        headers={"x-api-key": "fake-key"},
    )
    echo = result.body
    assert echo["method"] == "POST"
    assert echo["path"] == "/api/esims/details?page=2&filter=a+b"  # None dropped, as requests does
    assert json.loads(echo["body"]) == {"iccid": "8932042000010245583"}
    headers = {key.lower(): value for key, value in echo["headers"].items()}
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(echo["body"]))
    assert headers["x-api-key"] == "fake-key"
    assert headers["user-agent"] == "esim-status-checker/2.0"  # the session's defaults still apply
    assert "cookie" not in headers


def test_a_calls_headers_replace_the_sessions_whatever_their_case_and_each_is_sent_once(echo_url):
    http = ProviderHttp("travelroam", echo_url, timeout=(2, 2))
    sent = http.request(
        "POST",
        "esims/details",
        json_body={"iccid": "8932042000010245583"},
        headers={"accept": "text/plain", "content-type": "application/vnd.fake+json", "clientSecret": "s"},
    ).body["header_list"]
    names = [name.lower() for name, _ in sent]
    assert len(names) == len(set(names)), sent  # no header twice
    values = {name.lower(): value for name, value in sent}
    assert values["accept"] == "text/plain"  # the session's "Accept" replaced, not sent beside it
    assert values["content-type"] == "application/vnd.fake+json"  # the call's, not the JSON default
    assert ("clientSecret", "s") in [tuple(pair) for pair in sent]  # the name as the client spelt it
    assert values["user-agent"] == "esim-status-checker/2.0"


def test_a_post_without_a_body_says_so_and_a_get_sends_no_length(echo_url):
    http = ProviderHttp("esimcard", echo_url, timeout=(2, 2))
    post = {k.lower(): v for k, v in http.request("POST", "balance").body["headers"].items()}
    get = {k.lower(): v for k, v in http.request("GET", "balance").body["headers"].items()}
    assert post["content-length"] == "0"
    assert "content-length" not in get


def test_an_answer_that_breaks_off_in_its_body_is_a_provider_failure(echo_url):
    http = ProviderHttp("airhub", echo_url, timeout=(2, 2))
    with pytest.raises(ProviderUnavailable) as caught:
        http.request("GET", "broken")
    assert not isinstance(caught.value, ProviderTimeout)
    assert "broken" in caught.value.message


class _Recording(HTTPAdapter):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[requests.PreparedRequest, dict]] = []

    def send(self, request, **kwargs):
        self.sent.append((request, kwargs))
        response = requests.Response()
        response.status_code = 200
        response._content = b'{"ok": true}'
        return response


def test_the_proxy_and_ca_bundle_of_the_providers_host_are_used(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "bypassed.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/fake-ca/bundle.pem")
    for base_url, session in (
        ("https://api.provider.example/v1", build_session(base_url="https://api.provider.example/v1")),
        ("https://api.provider.example/v1", requests.Session()),  # a caller's session: environment read
    ):
        adapter = _Recording()
        session.mount("https://", adapter)
        assert ProviderHttp("airhub", base_url, session=session).request("GET", "orders").body == {"ok": True}
        _, options = adapter.sent[0]
        assert options["proxies"]["https"] == "http://proxy.internal:3128"
        assert options["verify"] == "/etc/fake-ca/bundle.pem"
        assert options["timeout"] == (3.05, 10.0)
        assert options["stream"] is False

    bypassed = requests.Session()
    adapter = _Recording()
    bypassed.mount("https://", adapter)
    ProviderHttp("airhub", "https://bypassed.example/api", session=bypassed).request("GET", "orders")
    assert "https" not in adapter.sent[0][1]["proxies"]
