"""The staff overview and the eSIM support page in real Chromium at 1280 px (docs/operations.md).

Staff log in through the admin's form and reach both pages from the admin home page. The overview's
charts are drawn by the vendored Chart.js (a canvas with pixels, no request leaves the live server)
and its tables hold the seeded orders; the support page finds the sandbox's demo eSIM by its last 4
digits, shows its live status, and "Show install code" shows the LPA string, the QR code and Apple's
link, and records the showing.

Screenshots go to the test's tmp_path; with SAVE_DOCS_SCREENSHOTS=1 they also replace the ones in
docs/img/ that docs/operations.md shows.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model

from pulse.models import AlertSubscription, InstallCodeShown
from pulse.tests.alert_helpers import alert_email_sent
from pulse.tests.overview_helpers import make_order, seed_lookups, seed_orders

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("world")]

WIDE = {"width": 1280, "height": 900}
PASSWORD = "pw-for-browser-tests-only"
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
DEMO_ICCID = "8932042000010245583"
DEMO_MATCHING_ID = "SBX00-DEMO0-TURKY-00001"


def log_in(page: Page, site: str, username: str) -> None:
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#pulse-staff-pages")).to_be_visible()


def screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000  # a page, not a blank
    if os.environ.get("SAVE_DOCS_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(exist_ok=True)
        shutil.copyfile(target, DOCS_IMG / name)
    return target


def seed_alerts(now: datetime) -> None:
    """Two alert e-mails 3 days ago, one followed by a paid renewal the next day (50 %)."""
    for iccid in ("8944000000000001009", "8944000000000001017"):
        alert_email_sent(iccid, now - timedelta(days=3))
    make_order(
        created_at=now - timedelta(days=2), iccid="8944000000000001009", paid_at=now - timedelta(days=2)
    )


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_overview_draws_its_charts_and_tables(page: Page, site: str, tmp_path: Path):
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    now = datetime.now(UTC)
    seed_orders(400, now=now, days=30)
    seed_lookups(now=now, days=30, per_hour=6)
    seed_alerts(now)
    outside = []
    page.on(
        "request", lambda request: outside.append(request.url) if not request.url.startswith(site) else None
    )
    page.set_viewport_size(WIDE)

    log_in(page, site, "ops")
    page.get_by_role("link", name="Overview", exact=True).click()

    expect(page.get_by_role("heading", name="Revenue per day: paid minus refunded")).to_be_visible()
    for chart in (
        "revenue-chart",
        "renewal-chart",
        "fulfilment-chart",
        "availability-chart",
        "latency-chart",
    ):
        expect(page.locator(f'canvas[data-chart="{chart}"]')).to_have_attribute("data-drawn", "true")
    expect(page.get_by_test_id("revenue-totals").locator("tbody tr")).to_have_count(2)  # USD and EUR
    expect(page.get_by_test_id("fulfilment-table").locator("tbody tr")).to_have_count(3)
    expect(page.get_by_test_id("alerts-table")).to_contain_text("Alert e-mails sent")
    expect(page.get_by_test_id("alerts-table")).to_contain_text("50 %")
    # the chart has pixels: a drawn canvas is not one flat colour
    colours = page.evaluate(
        """() => { const c = document.querySelector('canvas[data-chart="renewal-chart"]');
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   const seen = new Set(); for (let i = 0; i < d.length; i += 400) seen.add(d[i]+','+d[i+1]+','+d[i+2]+','+d[i+3]);
                   return seen.size; }"""
    )
    assert colours > 3
    assert page_width(page) <= WIDE["width"]
    assert outside == []  # no CDN: every script and style came from the live server
    screenshot(page, tmp_path, "overview.png")

    # the period and currency selectors
    page.get_by_label("Currency").select_option("EUR")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_test_id("revenue-totals").locator("tbody tr")).to_have_count(1)
    expect(page.get_by_test_id("revenue-totals").locator("tbody tr td").first).to_have_text("EUR")


def test_esim_support_page_and_install_code(page: Page, site: str, tmp_path: Path):
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    order = make_order(created_at=datetime.now(UTC), provider="travelroam", iccid=DEMO_ICCID)
    AlertSubscription.objects.create(
        iccid=DEMO_ICCID, email="traveller@example.com", thresholds=["data_80", "expired"], nonce="n"
    )
    page.set_viewport_size(WIDE)

    log_in(page, site, "ops")
    page.get_by_role("link", name="eSIM support", exact=True).click()
    page.get_by_label("ICCID, its last 4 digits, or order id:").fill("5583")
    page.get_by_role("button", name="Find").click()

    expect(page.get_by_test_id("esim-iccid")).to_have_text(f"ICCID {DEMO_ICCID}")
    expect(page.get_by_test_id("status-table")).to_contain_text("TRAVELROAM")
    expect(page.get_by_text(order.order_id)).to_be_visible()
    expect(page.get_by_test_id("subscriptions")).to_contain_text("t***@example.com")
    assert DEMO_MATCHING_ID not in page.content()
    assert "traveller@example.com" not in page.content()
    assert page_width(page) <= WIDE["width"]
    screenshot(page, tmp_path, "esim-support.png")

    page.get_by_test_id("show-install-code").click()

    expect(page.get_by_test_id("install-lpa")).to_contain_text(DEMO_MATCHING_ID)
    expect(page.get_by_test_id("install-qr").locator("svg")).to_be_visible()
    href = page.get_by_test_id("apple-link").get_attribute("href")
    assert href is not None
    assert href.startswith("https://esimsetup.apple.com/esim_qrcode_provisioning?carddata=LPA%3A1%24")
    assert page_width(page) <= WIDE["width"]
    screenshot(page, tmp_path, "install-code.png")
    shown = InstallCodeShown.objects.get()
    assert (shown.actor_username, shown.outcome) == ("ops", "shown")
