"""The sales-pause banner in a real browser (docs/operations.md, "Provider wallets and the sales pause").

The TravelRoam simulator's wallet is emptied, a customer pays a renewal on the sandbox checkout page, the
top-up is refused for lack of funds and refunded, and TravelRoam's sales pause. Staff then see the banner
on every admin page, press its Resume button, and the banner is gone; creates are taken again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from django.contrib.auth import get_user_model

from pulse.models import OrderStatus, ProviderSalesPause, RenewalOrder
from pulse.services.catalog import catalog_sync
from pulse.tests.renewal_helpers import FRONTEND_BODY
from tests.browser.conftest import CREATE, api_post, buy_in_browser

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "pw-for-browser-tests-only"
BANNER = "#sales-pause-banner"


@pytest.fixture
def staff(db) -> AbstractUser:
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


def log_in(page: Page, site: str) -> None:
    page.goto(f"{site}/admin/login/?next=/admin/")
    page.get_by_label("Username:").fill("ops")
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_staff_see_the_pause_on_every_admin_page_and_resume_it(
    page, site, frontend_url, world, staff, settings
):
    settings.STAFF_ALERT_EMAILS = ["ops@example.com"]
    catalog_sync(provider="travelroam")
    world.set_wallet("travelroam", "0")

    order_id, _session = buy_in_browser(page, site, frontend_url)

    assert RenewalOrder.objects.get(order_id=order_id).status == OrderStatus.REFUNDED
    assert ProviderSalesPause.objects.get(provider="travelroam").paused
    refused = api_post(site, CREATE, FRONTEND_BODY)
    assert (refused.status_code, refused.json()["code"]) == (503, "renewals_paused")

    log_in(page, site)
    banner = page.locator(BANNER)
    expect(banner).to_contain_text("Renewals paused: travelroam")
    expect(banner).to_contain_text("Insufficient balance")
    page.get_by_role("link", name="Renewal orders").first.click()
    page.wait_for_url("**/admin/pulse/renewalorder/")
    expect(banner).to_be_visible()  # on every admin page, not only the home page

    world.set_wallet("travelroam", "50")  # staff topped up the wallet at the provider
    page.get_by_role("button", name="Resume travelroam").click()

    page.wait_for_url("**/admin/pulse/renewalorder/")  # back where staff were
    expect(page.locator(".messagelist .success")).to_have_text("Sales of travelroam resumed.")
    expect(page.locator(BANNER)).to_have_count(0)
    pause = ProviderSalesPause.objects.get(provider="travelroam")
    assert (pause.paused, pause.resumed_by) == (False, "staff:ops")
    assert api_post(site, CREATE, FRONTEND_BODY).status_code == 201
