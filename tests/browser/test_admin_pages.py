"""The staff admin in a real browser (docs/operations.md): staff log in through the login form, find a
stuck order with the "needs attention" filter, act on it, and read the outcome in its audit trail;
customers cannot get in; the catalogue and webhook-event pages render their data safely.

Orders are real: created through the API and paid on the sandbox checkout page in the browser, with
the TravelRoam simulator refusing the top-up where a test needs a stuck order.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client

from pulse.models import OrderAuditEntry, OrderStatus, PaymentEvent, RenewalOrder
from pulse.services import fulfilment
from pulse.services.catalog import catalog_sync
from pulse.tests.renewal_helpers import SEED_BUNDLE, SEED_ICCID, TOP_UP_PATH, event_body
from tests.browser.conftest import buy_in_browser, post_webhook

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser
    from playwright.sync_api import Locator, Page

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

S = OrderStatus
PASSWORD = "pw-for-browser-tests-only"
ADMIN = "/admin/"
ORDERS = "/admin/pulse/renewalorder/"
BUNDLES = "/admin/pulse/bundle/"
EVENTS = "/admin/pulse/paymentevent/"
# An activation code as AirHub returns it: anyone holding it can install the eSIM.
MATCHING_ID = "FAKE-MATCHING-ID-0001"
ACTIVATION_CODE = f"LPA:1$smdp.example.test${MATCHING_ID}"


@pytest.fixture
def staff(db) -> AbstractUser:
    """A staff member, created as `manage.py createsuperuser` would."""
    return get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)


@pytest.fixture
def customer(db) -> AbstractUser:
    """An active user who is not staff."""
    return get_user_model().objects.create_user("customer", "customer@example.com", PASSWORD)


def log_in(page: Page, site: str, username: str, next_path: str = ADMIN) -> None:
    """Through the admin's login form, as a person would."""
    page.goto(f"{site}/admin/login/?next={next_path}")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def buy_with_refused_top_up(page: Page, site: str, frontend_url: str, world, *, worker_dies: bool) -> str:
    """Pay an order while TravelRoam refuses the top-up once; its order id.

    `worker_dies`: the worker stops right after PROVIDER_FAILED (no refund, no hand-over to staff), which
    is how an order stays PROVIDER_FAILED (docs/operations.md); else the refund rules run.
    """
    world.set_fault("travelroam", "rejected", path_contains=TOP_UP_PATH, times=1)
    with pytest.MonkeyPatch.context() as patch:
        if worker_dies:
            # The live server runs in this process: it sees the patched module attribute.
            patch.setattr(fulfilment, "after_provider_failure", lambda order_pk, *, by: None)
        order_id, _session_id = buy_in_browser(page, site, frontend_url)
    return order_id


def search(page: Page, term: str) -> None:
    """The changelist's search box (not the sidebar's model filter, which is also a search field)."""
    page.locator("#searchbar").fill(term)
    page.locator("#searchbar").press("Enter")
    page.wait_for_url("**/?q=*")


def result_rows(page: Page) -> Locator:
    return page.locator("#result_list tbody tr")


def audit_row(page: Page, action: str) -> Locator:
    return page.locator("#audit-group tbody tr", has_text=action)


# --- stuck orders --------------------------------------------------------------------------------


def test_staff_find_a_provider_failed_order_retry_it_and_see_the_action_in_its_audit_trail(
    page, site, frontend_url, world, staff
):
    healthy_id, _ = buy_in_browser(page, site, frontend_url)
    failed_id = buy_with_refused_top_up(page, site, frontend_url, world, worker_dies=True)
    assert RenewalOrder.objects.get(order_id=failed_id).status == S.PROVIDER_FAILED
    assert len(world.topups()) == 1  # the healthy order's

    log_in(page, site, "ops")
    expect(page.locator("#site-name")).to_have_text("eSIM renewals: staff")
    page.get_by_role("link", name="Renewal orders").first.click()
    expect(result_rows(page)).to_have_count(2)
    assert SEED_ICCID not in page.content()  # the list shows masked ICCIDs only

    page.locator("#changelist-filter").get_by_role("link", name="Provider failed (1)").click()

    page.wait_for_url("**/?attention=provider_failed")
    expect(result_rows(page)).to_have_count(1)
    expect(result_rows(page)).to_contain_text(failed_id)
    expect(page.locator("#result_list")).not_to_contain_text(healthy_id)

    page.get_by_role("link", name=failed_id).click()
    expect(page.get_by_test_id("order-status")).to_contain_text("Status: Provider failed")

    world.clear_faults()  # the provider has stock again
    page.get_by_role("link", name="Retry fulfilment").click()
    expect(page.get_by_test_id("order-status")).to_have_text("Provider failed")
    page.get_by_label("Note:").fill("TravelRoam restocked (browser test)")
    page.get_by_role("button", name="Retry fulfilment").click()

    page.wait_for_url(f"**{ORDERS}*/change/")
    expect(page.locator(".messagelist .success")).to_have_text(
        f"Order {failed_id}: retry fulfilment done; it is now Completed."
    )
    expect(page.get_by_test_id("order-status")).to_contain_text("Status: Completed")
    retried = audit_row(page, "staff retry fulfilment")
    expect(retried).to_have_count(1)
    for text in ("ops", "admin", "PROVIDER_FAILED", "FULFILLING", "TravelRoam restocked (browser test)"):
        expect(retried).to_contain_text(text)
    expect(audit_row(page, "to completed")).to_have_count(1)

    order = RenewalOrder.objects.get(order_id=failed_id)
    assert (order.status, order.attempts) == (S.COMPLETED, 2)
    assert [t["item"] for t in world.topups()] == [SEED_BUNDLE, SEED_BUNDLE]
    # Nothing needs attention any more.
    page.goto(f"{ORDERS}?attention=all")
    expect(page.locator("#changelist-filter")).to_contain_text("Provider failed (0)")
    expect(result_rows(page)).to_have_count(0)


def test_mark_completed_without_a_note_shows_the_form_error_and_changes_nothing(
    page, site, frontend_url, world, staff, settings
):
    settings.RENEWAL_AUTO_REFUND = False  # a refused top-up goes to staff (MANUAL_REVIEW)
    order_id = buy_with_refused_top_up(page, site, frontend_url, world, worker_dies=False)
    order = RenewalOrder.objects.get(order_id=order_id)
    assert order.status == S.MANUAL_REVIEW
    audit_before = OrderAuditEntry.objects.filter(order=order).count()

    log_in(page, site, "ops", next_path=ORDERS)
    search(page, order_id)
    expect(result_rows(page)).to_have_count(1)
    page.get_by_role("link", name=order_id).click()
    page.get_by_role("link", name="Mark completed").click()
    page.get_by_label("Provider reference:").fill("TR-555")

    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Mark completed").click()

    assert navigation.value is not None
    assert navigation.value.status == 200  # the form again, not a server error
    note_row = page.locator(".form-row", has=page.locator("#id_note"))
    expect(note_row.locator(".errorlist")).to_have_text("This field is required.")
    expect(page.get_by_label("Provider reference:")).to_have_value("TR-555")
    expect(page.get_by_test_id("order-status")).to_have_text("Manual review")
    for server_error in ("Traceback", "Server Error", "Internal Server Error"):
        assert server_error not in page.content()
    order.refresh_from_db()
    assert order.status == S.MANUAL_REVIEW
    assert OrderAuditEntry.objects.filter(order=order).count() == audit_before

    # With a note the same form completes the order.
    page.get_by_label("Note:").fill("bundle visible in the TravelRoam portal")
    page.get_by_role("button", name="Mark completed").click()
    expect(page.locator(".messagelist .success")).to_have_text(
        f"Order {order_id}: mark completed done; it is now Completed."
    )
    expect(audit_row(page, "staff marked completed")).to_contain_text(
        "bundle visible in the TravelRoam portal"
    )


def test_people_who_are_not_staff_cannot_reach_the_order_admin(page, site, frontend_url, world, customer):
    order_id = buy_with_refused_top_up(page, site, frontend_url, world, worker_dies=True)
    order = RenewalOrder.objects.get(order_id=order_id)
    order_page = f"{ORDERS}{order.pk}/change/"
    retry_page = f"{ORDERS}{order.pk}/actions/retry/"

    # Not logged in: every order page sends the browser to the login form.
    for path in (ORDERS, order_page, retry_page):
        page.goto(path)
        assert page.url.startswith(f"{site}/admin/login/?next="), path
        expect(page.get_by_label("Username:")).to_be_visible()

    # The login form refuses a customer's valid password.
    log_in(page, site, "customer", next_path=order_page)
    expect(page.locator(".errornote")).to_contain_text("Please enter the correct username and password")
    assert page.url.startswith(f"{site}/admin/login/")

    # Even logged in (a session from elsewhere in the site), a customer is sent back to the login form.
    client = Client()
    client.force_login(customer)
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": client.cookies[django_settings.SESSION_COOKIE_NAME].value,
                "url": site,
            }
        ]
    )
    for path in (order_page, retry_page):
        page.goto(path)
        assert page.url.startswith(f"{site}/admin/login/?next="), path
        expect(page.locator("#content")).to_contain_text(
            "You are authenticated as customer, but are not authorized to access this page"
        )
    assert order_id not in page.content()

    order.refresh_from_db()
    assert order.status == S.PROVIDER_FAILED
    assert not OrderAuditEntry.objects.filter(order=order, source="admin").exists()


# --- catalogue and webhook events -----------------------------------------------------------------


def test_the_bundle_list_shows_the_catalogue_with_retail_prices(page, site, world, staff):
    catalog_sync(provider="travelroam")

    log_in(page, site, "ops", next_path=BUNDLES)
    expect(page.locator("#content h1")).to_have_text("Select bundle to change")
    assert result_rows(page).count() > 1
    search(page, SEED_BUNDLE)

    expect(result_rows(page)).to_have_count(1)
    row = result_rows(page).first
    for cell, text in (
        ("provider", "TravelRoam"),
        ("code", SEED_BUNDLE),
        ("data", "1.00 GB"),
        ("duration_days", "7"),
        ("cost", "1.2300"),
        ("retail_price", "$1.60"),
    ):
        expect(row.locator(f".field-{cell}")).to_have_text(text)


def test_a_webhook_event_shows_its_payload_as_pretty_json_without_activation_codes(
    page, site, frontend_url, world, staff
):
    order_id, session_id = buy_in_browser(page, site, frontend_url)
    # A gateway event carrying an activation code (e.g. copied into metadata by a dashboard user).
    obj = {
        "id": "cus_test_browser",
        "object": "customer",
        "description": ACTIVATION_CODE,
        "metadata": {"order_id": order_id, "activation_code": ACTIVATION_CODE, "matching_id": MATCHING_ID},
    }
    body = event_body("customer.updated", obj, event_id="evt_test_browser_activation")
    delivered = post_webhook(site, body)
    assert delivered.status_code == 200, delivered.text
    assert PaymentEvent.objects.get(event_id="evt_test_browser_activation").result == "ignored"

    log_in(page, site, "ops", next_path=EVENTS)
    expect(result_rows(page)).to_have_count(2)
    search(page, order_id)
    expect(result_rows(page)).to_have_count(1)
    paid_event = PaymentEvent.objects.get(order__order_id=order_id)
    page.get_by_role("link", name=paid_event.event_id).click()

    shown = page.locator("pre.pulse-json").inner_text()  # the text as rendered, line breaks included
    assert '\n  "type": "checkout.session.completed"\n}' in shown  # indented, one key a line
    payload = json.loads(shown)  # escaped in the HTML, real JSON on the screen
    assert payload["type"] == "checkout.session.completed"
    assert payload["data"]["object"]["id"] == session_id
    assert "LPA:1$" not in page.content()

    page.goto(EVENTS)
    page.get_by_role("link", name="evt_test_browser_activation").click()
    payload = json.loads(page.locator("pre.pulse-json").inner_text())
    assert payload["data"]["object"]["description"] == "LPA:[hidden]"
    assert payload["data"]["object"]["metadata"] == {
        "activation_code": "[hidden]",
        "matching_id": "[hidden]",
        "order_id": order_id,
    }
    content = page.content()
    assert MATCHING_ID not in content
    assert "LPA:1$" not in content
