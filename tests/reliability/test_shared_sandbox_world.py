"""One sandbox world for every process, with real OS processes, as `make run` runs them.

The app runs as `manage.py runserver` in a subprocess with the development settings `make run` uses
(DEBUG on, sandbox providers and sandbox payments, no credentials), on an SQLite file and a state file in
tmp. The renewal is paid on the sandbox checkout page (in Chromium when it is installed, else by posting
its form as the browser does), and `manage.py check_esim ... --fresh --json`, another process started
before and after, must show the new bundle. A `manage.py shell` process places a top-up the server then
sees. Before the shared world, every process had its own simulators and both assertions failed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from pulse.tests.renewal_helpers import FRONTEND_BODY, SEED_BUNDLE, SEED_ICCID
from tests.reliability import servers

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
FRANCE = "8944000000000000209"  # eSIMCard: one package in use
FRANCE_PACKAGE = "eSIM, 500MB, 7 Days, Germany, Unthrottled"
TIMEOUT = 60
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
# A top-up placed by a management command through the app's own provider client, as fulfilment does.
TOP_UP_FRANCE = f"""
from providers.base import ESIMCARD, TopUpRequest
from providers.sandbox import DEMO_ICCIDS
from pulse.services.providers import provider_client, sandbox_world
package = next(p.id for p in sandbox_world().data.card_packages.values() if p.name == {FRANCE_PACKAGE!r})
request = TopUpRequest(iccid={FRANCE!r}, esim_reference={FRANCE!r}, bundle_code=package,
                       order_reference="shell-topup-1", package_id=package)
print(provider_client(ESIMCARD).top_up(request).reference)
"""


@dataclass
class App:
    base_url: str
    env: dict[str, str]
    log_dir: Path

    def manage(self, *args: str) -> str:
        """Run a management command in a new process; its stdout."""
        result = subprocess.run(
            [servers.PYTHON, "manage.py", *args],
            cwd=servers.ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def check_esim(self, iccid: str) -> dict:
        return json.loads(self.manage("check_esim", iccid, "--fresh", "--json"))

    def post(self, path: str, body: dict) -> requests.Response:
        return requests.post(f"{self.base_url}{path}", json=body, timeout=TIMEOUT)


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[App]:
    tmp_path = tmp_path_factory.mktemp("shared_world")
    env = servers.development_environment(tmp_path)
    port = servers.free_port()
    base_url = f"http://127.0.0.1:{port}"
    env["FRONTEND_URL"] = f"{base_url}/frontend-stand-in"  # the redirect after Pay lands on our 404 page
    app = App(base_url, env, tmp_path)
    app.manage("migrate", "--noinput")
    with servers.stopped_on_sigterm():
        server = servers.start(
            "runserver",
            [servers.PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            log_dir=tmp_path,
        )
        try:
            servers.drain_stdout(server, tmp_path / "runserver.log")
            servers.wait_until_ready(f"{base_url}/api/esim/currency/supported/", server, timeout=60)
            yield app
        finally:
            servers.stop(server)


def pay_on_the_checkout_page(checkout_url: str) -> None:
    """Press Pay as a customer does: in Chromium when installed, else by posting the page's form."""
    if CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK):
        sync_api = pytest.importorskip("playwright.sync_api")
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            try:
                page = browser.new_page()
                page.goto(checkout_url, timeout=TIMEOUT * 1000)
                page.get_by_role("button", name=re.compile(r"^Pay ")).click()
                page.wait_for_url(re.compile(r"/frontend-stand-in/renewal/success"), timeout=TIMEOUT * 1000)
            finally:
                browser.close()
        return
    browser = requests.Session()
    page = browser.get(checkout_url, timeout=TIMEOUT)
    token = CSRF_INPUT.search(page.text)
    assert page.status_code == 200, page.text
    assert token, "the checkout form carries a CSRF token"
    paid = browser.post(
        checkout_url,
        data={"csrfmiddlewaretoken": token.group(1), "action": "pay"},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert paid.status_code == 302, paid.text
    assert "/renewal/success" in paid.headers["Location"]


def test_a_renewal_paid_in_the_server_shows_in_check_esim_run_in_another_process(app: App):
    before = app.check_esim(SEED_ICCID)  # this process reads (and so opens) the world first
    assert [bundle["raw_state"] for bundle in before["bundles"]] == ["expired"]

    created = app.post("/api/esim/renewal/create/", FRONTEND_BODY)
    assert created.status_code == 201, created.text
    payment = created.json()["payment"]
    # The page is served by our server whatever host the link names (it comes from settings).
    pay_on_the_checkout_page(app.base_url + urlsplit(payment["checkout_url"]).path)
    confirmed = app.post("/api/esim/renewal/confirm-payment/", {"session_id": payment["session_id"]})
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["order"]["status"] == "COMPLETED", confirmed.text

    after = app.check_esim(SEED_ICCID)
    assert [bundle["raw_state"] for bundle in after["bundles"]] == ["queued", "expired"]
    assert after["bundles"][0]["name"] == SEED_BUNDLE
    assert after["api_provider"] == "TRAVELROAM"


def test_a_top_up_placed_by_a_management_command_shows_in_the_running_server(app: App):
    reference = app.manage("shell", "-v", "0", "-c", TOP_UP_FRANCE).strip()
    assert reference

    checked = app.post("/api/esim/check/", {"iccid": FRANCE})
    assert checked.status_code == 200, checked.text
    bundles = checked.json()["bundles"]
    assert len(bundles) == 2, bundles  # the package in use and the one the command bought
    assert FRANCE_PACKAGE in [bundle["name"] for bundle in bundles]
