"""Pages fit a 1280 px wide screen (issue 11, item 11): nothing is cut off or pushes the page sideways.

- The sandbox checkout card holds its long session id (also on a 375 px phone).
- The admin's order list shows every column, the ICCID whole, without a horizontal scrollbar.
- The order page, with Stripe-length ids in its fields and its transactions / webhook-events / audit
  tables, fits the window, and its labels read "ICCID" and "eSIM reference".

"Fits" is measured, not eyeballed: an element overflows when its scrollWidth exceeds its clientWidth,
or when its box reaches past its container's. Each page is screenshotted into the test's tmp_path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pulse.models import PaymentEvent, PaymentTransaction, RenewalOrder
from tests.browser.conftest import buy_in_browser, create_renewal
from tests.browser.test_admin_pages import ORDERS, log_in, staff  # noqa: F401 - `staff` is a fixture

if TYPE_CHECKING:
    from pathlib import Path

    from playwright.sync_api import Locator, Page

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("world")]

WIDE = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 740}
MASKED_SEED_ICCID = "893204*********5583"
# Live Stripe ids are this long (a Checkout Session id is 66 characters); the sandbox's are shorter.
STRIPE_SESSION_ID = "cs_live_a1" + "B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0u1V2w3X4y5Z6a7B8c9D0e1F2g3"[:56]
STRIPE_PAYMENT_INTENT = "pi_3QxYzAbCdEfGhIjK1LmNoPqR"
STRIPE_EVENT_ID = "evt_1QxYzAbCdEfGhIjK2LmNoPqRsTuV"
STRIPE_CHECKOUT_URL = (
    f"https://checkout.stripe.com/c/pay/{STRIPE_SESSION_ID}#{'fidkdWxOYHwnPyd1blpxYHZxWjA0' * 8}"
)

OVERFLOWING = """(selector) => [...document.querySelectorAll(selector)]
    .filter((element) => element.scrollWidth > element.clientWidth + 1)
    .map((element) => `${element.tagName.toLowerCase()}#${element.id}.${element.className}: `
                      + `${element.scrollWidth} > ${element.clientWidth}`)"""


def overflowing(page: Page, selector: str) -> list[str]:
    """The elements matching `selector` whose content is wider than they are."""
    return page.evaluate(OVERFLOWING, selector)


def right_edge(locator: Locator) -> float:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not rendered"
    return box["x"] + box["width"]


def assert_inside(inner: Locator, outer: Locator) -> None:
    assert right_edge(inner) <= right_edge(outer) + 0.5, f"{inner} reaches past {outer}"


def shoot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


# --- the sandbox checkout page -------------------------------------------------------------------


@pytest.mark.parametrize("viewport", [WIDE, PHONE], ids=["1280px", "375px"])
def test_the_checkout_card_holds_the_session_id(page, site, tmp_path, viewport):
    payment = create_renewal(site)["payment"]
    page.set_viewport_size(viewport)
    page.goto(payment["checkout_url"])
    shoot(page, tmp_path, f"checkout-{viewport['width']}")

    session = page.get_by_text(payment["session_id"], exact=True)
    expect(session).to_be_visible()
    assert_inside(session, page.locator("main"))
    assert overflowing(page, "html, body, main, main dl, main dd") == []


# --- the order admin -----------------------------------------------------------------------------


def paid_order_with_stripe_length_ids(page: Page, site: str, frontend_url: str) -> RenewalOrder:
    """An order paid in the browser, its gateway ids then made as long as live Stripe's."""
    order_id, _session_id = buy_in_browser(page, site, frontend_url)
    order = RenewalOrder.objects.get(order_id=order_id)
    RenewalOrder.objects.filter(pk=order.pk).update(
        checkout_session_id=STRIPE_SESSION_ID, payment_intent_id=STRIPE_PAYMENT_INTENT
    )
    for transaction in PaymentTransaction.objects.filter(order=order):
        transaction.gateway_reference = STRIPE_SESSION_ID
        transaction.raw = {**transaction.raw, "id": STRIPE_SESSION_ID, "url": STRIPE_CHECKOUT_URL}
        transaction.save(update_fields=["gateway_reference", "raw"])
    for event in PaymentEvent.objects.filter(order=order):
        event.event_id = STRIPE_EVENT_ID
        event.payload["data"]["object"].update(id=STRIPE_SESSION_ID, url=STRIPE_CHECKOUT_URL)
        event.save(update_fields=["event_id", "payload"])
    return order


@pytest.mark.usefixtures("staff")
def test_the_order_list_shows_every_column_and_the_whole_iccid(page, site, frontend_url, tmp_path):
    paid_order_with_stripe_length_ids(page, site, frontend_url)
    create_renewal(site)  # a second, pending order
    page.set_viewport_size(WIDE)
    log_in(page, site, "ops", next_path=ORDERS)
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    shoot(page, tmp_path, "order-list-1280")

    expect(page.locator("#result_list thead th.column-masked_iccid")).to_have_text("ICCID")
    iccids = page.locator("#result_list td.field-masked_iccid")
    expect(iccids).to_have_text([MASKED_SEED_ICCID, MASKED_SEED_ICCID])
    for cell in iccids.all():
        assert_inside(cell, page.locator("#changelist .results"))
    assert_inside(page.locator("#result_list"), page.locator("#changelist .results"))
    assert overflowing(page, "html, body, #content, #changelist .results, #result_list td") == []


@pytest.mark.usefixtures("staff")
def test_the_order_page_fits_the_window_and_labels_acronyms_right(page, site, frontend_url, tmp_path):
    order = paid_order_with_stripe_length_ids(page, site, frontend_url)
    page.set_viewport_size(WIDE)
    log_in(page, site, "ops", next_path=f"{ORDERS}{order.pk}/change/")
    expect(page.get_by_test_id("order-status")).to_contain_text("Completed")
    shoot(page, tmp_path, "order-page-1280")

    expect(page.locator(".field-iccid label")).to_have_text("ICCID:")
    expect(page.locator(".field-esim_reference label")).to_have_text("eSIM reference:")
    expect(page.locator(".field-checkout_session_id .readonly")).to_have_text(STRIPE_SESSION_ID)
    events = page.locator("#events-group")
    expect(events).to_contain_text(STRIPE_EVENT_ID)
    for group in ("#transactions-group", "#events-group", "#audit-group"):
        assert_inside(page.locator(f"{group} table"), page.locator(group))
    assert overflowing(page, "html, body, #content, fieldset, .inline-group, .inline-group td") == []

    # Unfolded, the raw gateway objects (a checkout URL is one 300-character word) still fit.
    for summary in page.locator(".inline-group details > summary").all():
        summary.click()
    expect(page.locator(".inline-group details[open] pre.pulse-json")).to_have_count(2)
    shoot(page, tmp_path, "order-page-1280-unfolded")
    assert overflowing(page, "html, body, #content, .inline-group, .inline-group td, pre.pulse-json") == []
