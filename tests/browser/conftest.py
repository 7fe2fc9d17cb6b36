"""Real-browser end-to-end tests: Debian's Chromium driven by Playwright against pytest-django's
`live_server` (a real HTTP server in a thread of this process, on the test database).

- One Chromium per test module (`browser`), a fresh context (cookies, storage) per test (`page`).
- Chromium is never downloaded: `/usr/bin/chromium` is used, and the tests skip when it is missing.
- No frontend runs here. `FRONTEND_URL` points at a path of the live server that does not exist, so a
  redirect "back to the frontend" is a real navigation (to a 404 page) whose URL the test checks.
  (Playwright's `page.route` cannot stand in for it: Chromium does not route the target of a redirect.)
- API calls go over real HTTP to the live server with `requests`, as the frontend's would.
- A failing test leaves a screenshot of its page in its tmp_path (named in the failure report).
- The tests run with DEBUG off, where only staff may press the sandbox checkout's buttons: the helpers
  that pay lend the page a staff member's session for exactly that click (`signed_in_as_staff`).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from providers.sandbox import SandboxWorld, reset_default_world
from pulse.payments import signing
from pulse.payments.sandbox_gateway import sandbox_webhook_secret
from pulse.services import currency
from pulse.tests.renewal_helpers import FRONTEND_BODY

if TYPE_CHECKING:  # playwright is imported at run time only where Chromium exists (see `browser`)
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FRONTEND_PATH = "/frontend-stand-in"  # no such route: the browser lands on our 404 page
API_TIMEOUT = 20.0  # seconds; generous for a loaded CI machine, never reached when things work
BROWSER_TIMEOUT_MS = 15_000

CREATE = "/api/esim/renewal/create/"
CONFIRM = "/api/esim/renewal/confirm-payment/"
WEBHOOK = "/api/esim/stripe/webhook/"
CHECKOUT_PATH = "/api/esim/sandbox/checkout/"
SCREENSHOT_KEY = pytest.StashKey[Path]()


def order_path(order_id: str) -> str:
    return f"/api/esim/renewal/order/{order_id}/"


def success_url(frontend_url: str, session_id: str) -> str:
    """Where Stripe (and the sandbox page) send the customer after a completed checkout."""
    return f"{frontend_url}/renewal/success?session_id={session_id}"


def cancel_url(frontend_url: str) -> str:
    return f"{frontend_url}/renewal/cancelled"


# --- the browser -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(django_db_setup) -> Iterator[Browser]:
    """One headless Chromium for the module.

    Requests `django_db_setup` so that the test database exists before Playwright starts: its sync API
    keeps an asyncio event loop running in this thread, and from then on Django refuses ORM calls here
    (SynchronousOnlyOperation), including pytest-django's own flush after each test. The ORM is
    synchronous and runs in this one thread, so the check is a false alarm for these tests: lift it for
    exactly as long as Playwright runs, and only for these modules.
    """
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_api.sync_playwright() as playwright:
            # Playwright gives every launch a fresh temporary profile (user-data dir) and removes it.
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
            try:
                yield chromium
            finally:
                chromium.close()


@pytest.fixture
def page(browser: Browser, live_server, request, tmp_path) -> Iterator[Page]:
    """A page in a fresh browser context (no cookies from an earlier test)."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    request.node.stash[SCREENSHOT_KEY] = tmp_path / "failure.png"
    tab = context.new_page()
    try:
        yield tab
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failing test, save a screenshot of its page and name the file in the report."""
    report = yield
    tab = getattr(item, "funcargs", {}).get("page")
    if report.when == "call" and report.failed and tab is not None and SCREENSHOT_KEY in item.stash:
        target = item.stash[SCREENSHOT_KEY]
        try:
            tab.screenshot(path=str(target), full_page=True)
        except Exception as exc:  # a missing screenshot must not hide the real failure
            report.sections.append(("browser screenshot", f"not taken: {exc}"))
        else:
            report.sections.append(("browser screenshot", f"{target} (page was at {tab.url})"))
    return report


# --- the sandbox: providers, payments, prices -------------------------------------------------------


@pytest.fixture
def site(live_server, settings) -> str:
    """The live server's base URL, e.g. http://localhost:41234; the API's own pages live there."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def frontend_url(live_server, settings) -> str:
    """FRONTEND_URL for this test: a path of the live server (see the module docstring)."""
    settings.FRONTEND_URL = f"{live_server.url}{FRONTEND_PATH}"
    return settings.FRONTEND_URL


@pytest.fixture
def world(settings, frontend_url) -> Iterator[SandboxWorld]:
    """Fresh provider simulators, the sandbox payment gateway and the documented price ($1.60).

    The live server runs in this process, so these settings and the simulators' state (faults,
    recorded top-ups) are the ones its requests see.
    """
    settings.ESIM_SANDBOX = True
    settings.PAYMENT_GATEWAY = "sandbox"
    settings.STRIPE_WEBHOOK_SECRET = ""  # the sandbox derives its webhook secret from SECRET_KEY
    settings.CURRENCYFREAKS_API_KEY = ""
    settings.RENEWAL_MARKUP_PERCENT = Decimal(30)
    settings.RENEWAL_AUTO_REFUND = True
    settings.SUPPORTED_CURRENCIES = ["USD", "EUR"]
    sandbox = reset_default_world()
    currency.reset_rate_state()
    yield sandbox
    reset_default_world()
    currency.reset_rate_state()


# --- the API over HTTP, as the frontend calls it ----------------------------------------------------


def api_post(base_url: str, path: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{base_url}{path}", json=body, timeout=API_TIMEOUT)


def api_get(base_url: str, path: str) -> requests.Response:
    return requests.get(f"{base_url}{path}", timeout=API_TIMEOUT)


def create_renewal(base_url: str, **overrides: Any) -> dict[str, Any]:
    """POST the published frontend's create body (contract §4); the 201 answer's JSON."""
    response = api_post(base_url, CREATE, {**FRONTEND_BODY, **overrides})
    assert response.status_code == 201, response.text
    return response.json()


def confirm(base_url: str, session_id: str) -> requests.Response:
    return api_post(base_url, CONFIRM, {"session_id": session_id})


def post_webhook(base_url: str, body: bytes) -> requests.Response:
    """Deliver a payment event signed as the sandbox gateway signs its own."""
    return requests.post(
        f"{base_url}{WEBHOOK}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": signing.sign(body, sandbox_webhook_secret()),
        },
        timeout=API_TIMEOUT,
    )


def order_status(base_url: str, order_id: str) -> str:
    response = api_get(base_url, order_path(order_id))
    assert response.status_code == 200, response.text
    return response.json()["order"]["status"]


# --- playing the customer in the browser ------------------------------------------------------------


@contextmanager
def signed_in_as_staff(page: Page, url: str) -> Iterator[None]:
    """The page carries a staff member's session (for `url`'s site) inside the block, and none after,
    so whatever the test does next is done as the customer again."""
    cashier, _created = get_user_model().objects.get_or_create(
        username="sandbox-cashier", defaults={"is_staff": True, "email": "cashier@example.com"}
    )
    client = Client()
    client.force_login(cashier)
    name = django_settings.SESSION_COOKIE_NAME
    page.context.add_cookies([{"name": name, "value": client.cookies[name].value, "url": url}])
    try:
        yield
    finally:
        page.context.clear_cookies(name=name)


def checkout_in_browser(page: Page, checkout_url: str, button: str, lands_on: str) -> None:
    """Open the sandbox checkout page as staff, click one of its buttons and wait until the browser is at
    exactly the frontend URL `lands_on` (any other URL times the wait out)."""
    with signed_in_as_staff(page, checkout_url):
        page.goto(checkout_url)
        page.get_by_role("button", name=button).click()
        page.wait_for_url(lambda url: url == lands_on)


def buy_in_browser(page: Page, base_url: str, frontend_url: str, **overrides: Any) -> tuple[str, str]:
    """Create a renewal through the API and pay it on the checkout page; (order id, session id)."""
    created = create_renewal(base_url, **overrides)
    session_id = created["payment"]["session_id"]
    checkout_in_browser(
        page, created["payment"]["checkout_url"], "Pay $1.60", success_url(frontend_url, session_id)
    )
    return created["order"]["order_id"], session_id
