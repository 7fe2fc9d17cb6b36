"""The sandbox checkout page in a real browser: a customer opens the checkout URL the API returned,
clicks Pay / Fail payment / Let it expire, and is sent back to the frontend exactly as Stripe Checkout
would send them; the frontend's confirm call then reports the outcome (contract §4, docs/renewals.md).
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from pulse.models import OrderStatus, RenewalOrder
from pulse.tests.renewal_helpers import SEED_BUNDLE, SEED_ICCID
from tests.browser.conftest import (
    CHECKOUT_PATH,
    cancel_url,
    checkout_in_browser,
    confirm,
    create_renewal,
    order_status,
    signed_in_as_staff,
    success_url,
)

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("world")]

S = OrderStatus
STAFF_PASSWORD = "pw-for-browser-tests-only"
MASKED_ICCID = "893204*********5583"


@pytest.fixture
def renewal(site) -> dict:
    """A renewal created through the API with the published frontend's body."""
    created = create_renewal(site)
    payment = created["payment"]
    # Built from PUBLIC_BASE_URL (the live server here), so the browser can open it as it is.
    assert payment["checkout_url"] == f"{site}{CHECKOUT_PATH}{payment['session_id']}/"
    assert (payment["amount"], payment["currency"]) == ("1.60", "USD")
    return created


def test_the_page_shows_what_the_customer_pays_for_and_pay_completes_the_order(
    page, site, frontend_url, renewal, world
):
    order_id = renewal["order"]["order_id"]
    session_id = renewal["payment"]["session_id"]

    with signed_in_as_staff(page, site):  # DEBUG is off in the tests: only staff may pay
        page.goto(renewal["payment"]["checkout_url"])

        expect(page.get_by_test_id("price")).to_have_text("$1.60")
        expect(page.get_by_test_id("order-id")).to_have_text(order_id)
        expect(page.get_by_test_id("status")).to_have_text("open / unpaid")
        expect(page.get_by_text(MASKED_ICCID, exact=True)).to_be_visible()
        assert SEED_ICCID not in page.content()  # never the whole ICCID on a page

        page.get_by_role("button", name="Pay $1.60").click()

        page.wait_for_url(lambda url: url == success_url(frontend_url, session_id))
    # The frontend's success page confirms the payment.
    confirmed = confirm(site, session_id)
    assert confirmed.status_code == 200, confirmed.text
    shown = confirmed.json()["order"]
    assert {key: shown[key] for key in ("order_id", "iccid", "amount", "currency", "status")} == {
        "order_id": order_id,
        "iccid": SEED_ICCID,
        "amount": "1.60",
        "currency": "USD",
        "status": "COMPLETED",
    }
    assert order_status(site, order_id) == "COMPLETED"
    [top_up] = world.topups()
    assert (top_up["provider"], top_up["iccid"], top_up["item"]) == ("travelroam", SEED_ICCID, SEED_BUNDLE)

    # Back on the checkout page (the browser's back button, a bookmark): paid, nothing more to click.
    page.goto(renewal["payment"]["checkout_url"])
    expect(page.get_by_test_id("status")).to_have_text("complete / paid")
    expect(page.get_by_role("button")).to_have_count(0)
    assert len(world.topups()) == 1


def test_fail_payment_goes_to_the_success_url_and_confirm_reports_the_failure(
    page, site, frontend_url, renewal, world
):
    order_id = renewal["order"]["order_id"]
    session_id = renewal["payment"]["session_id"]

    # Stripe sends a failed asynchronous payment to the success URL too: the frontend asks confirm.
    checkout_in_browser(
        page, renewal["payment"]["checkout_url"], "Fail payment", success_url(frontend_url, session_id)
    )

    confirmed = confirm(site, session_id)
    assert confirmed.status_code == 409
    assert confirmed.json() == {
        "error": "The payment has not been completed.",
        "code": "payment_not_completed",
        "details": "The payment failed. Start a new renewal to try again.",
    }
    assert order_status(site, order_id) == "FAILED"
    assert RenewalOrder.objects.get(order_id=order_id).status == S.FAILED
    assert world.topups() == []


def test_let_it_expire_goes_to_the_cancel_url_and_the_order_expires(page, site, frontend_url, renewal, world):
    order_id = renewal["order"]["order_id"]
    session_id = renewal["payment"]["session_id"]

    checkout_in_browser(page, renewal["payment"]["checkout_url"], "Let it expire", cancel_url(frontend_url))

    assert order_status(site, order_id) == "EXPIRED"
    assert RenewalOrder.objects.get(order_id=order_id).status == S.EXPIRED
    confirmed = confirm(site, session_id)
    assert (confirmed.status_code, confirmed.json()["details"]) == (
        409,
        "The checkout expired before payment. Start a new renewal.",
    )
    page.goto(renewal["payment"]["checkout_url"])
    expect(page.get_by_test_id("status")).to_have_text("expired / unpaid")
    expect(page.get_by_role("button")).to_have_count(0)
    assert world.topups() == []


def test_an_unknown_checkout_session_is_not_found(page, site):
    response = page.goto(f"{site}{CHECKOUT_PATH}cs_test_unknown/")
    assert response is not None
    assert response.status == 404


def test_with_debug_off_a_customer_sees_staff_login_required_and_staff_log_in_to_pay(
    page, site, frontend_url, renewal, world
):
    order_id = renewal["order"]["order_id"]
    session_id = renewal["payment"]["session_id"]
    get_user_model().objects.create_user("cashier", "cashier@example.com", STAFF_PASSWORD, is_staff=True)

    page.goto(renewal["payment"]["checkout_url"])

    expect(page.get_by_test_id("order-id")).to_have_text(order_id)
    expect(page.get_by_test_id("staff-only")).to_contain_text("Staff login required")
    expect(page.get_by_role("button")).to_have_count(0)

    # A click forged from another page of the site (with a valid CSRF token) is refused, nothing changes.
    page.goto("/admin/login/")
    token = page.locator("input[name=csrfmiddlewaretoken]").input_value()
    forged = page.request.post(
        renewal["payment"]["checkout_url"],
        form={"action": "pay", "csrfmiddlewaretoken": token},
        headers={"Referer": renewal["payment"]["checkout_url"]},
        max_redirects=0,
    )
    assert forged.status == 403
    assert "Nothing was paid and the order is unchanged" in forged.text()
    assert order_status(site, order_id) == "PENDING"

    # Staff follow the page's login link and come back to the checkout with its buttons.
    page.goto(renewal["payment"]["checkout_url"])
    page.get_by_role("link", name="Log in as staff").click()
    page.get_by_label("Username:").fill("cashier")
    page.get_by_label("Password:").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(renewal["payment"]["checkout_url"])
    page.get_by_role("button", name="Pay $1.60").click()

    page.wait_for_url(lambda url: url == success_url(frontend_url, session_id))
    assert order_status(site, order_id) == "COMPLETED"
    assert len(world.topups()) == 1
