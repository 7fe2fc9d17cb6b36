"""The keyless sandbox flow end to end, as a newcomer runs it after `make run`: check → options →
create → the sandbox checkout page → Pay / Fail / Expire → back to the frontend → confirm → poll.

Django's test client with CSRF checks on, as a browser posts the checkout page's form. The tests run
with DEBUG off, where only staff may press the page's buttons (the top-up is real, the payment is
not): the browser is a staff member's, except where a test is about who may press them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from pulse.models import OrderStatus, PaymentEvent, RenewalOrder, SandboxCheckout
from pulse.payments.sandbox_gateway import SandboxGateway
from pulse.tests.renewal_helpers import (  # noqa: F401 - the *_fixture names register fixtures
    CANCEL_URL,
    CONFIRM,
    CREATE,
    FRONTEND_URL,
    OPTIONS,
    SEED_BUNDLE,
    SEED_ICCID,
    SERVER_PRICE,
    charges,
    order_of,
    order_url,
    renewal_env_fixture,
    top_ups,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("renewal_env")]

S = OrderStatus
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def browser_of(user=None) -> Client:
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def browser(db) -> Client:
    """A staff member's browser (DEBUG is off in the tests)."""
    staff = get_user_model().objects.create_user("cashier", "cashier@example.com", is_staff=True)
    return browser_of(staff)


@pytest.fixture
def anonymous() -> Client:
    return browser_of()


def post_json(browser: Client, url: str, body: dict):
    return browser.post(url, body, content_type="application/json")


def start_renewal(browser: Client) -> tuple[str, str, str]:
    """What the published frontend does: check, then create with its fixed body; (order, session, url)."""
    status = post_json(browser, "/api/esim/check/", {"iccid": SEED_ICCID}).json()
    options = browser.get(OPTIONS, {"iccid": SEED_ICCID, "currency": "USD"}).json()
    assert options["same_plan_bundle"] == SEED_BUNDLE
    [same_plan] = [option for option in options["options"] if option["same_plan"]]
    assert (same_plan["price"], same_plan["formatted_price"]) == ("1.60", "$1.60")
    body = {
        "iccid": status["iccid"],
        "provider": status["api_provider"],
        "order_sim_id": status["order_sim_id"],
        "plan_name": status["plan_name"],
        "amount": 10,
        "currency": "USD",
        "package_name": status["plan_name"],
        "renewal_days": 7,
        "country_code": None,
    }
    created = post_json(browser, CREATE, body)
    assert created.status_code == 201, created.json()
    payment = created.json()["payment"]
    assert (payment["amount"], payment["currency"]) == ("1.60", "USD")
    return created.json()["order"]["order_id"], payment["session_id"], payment["checkout_url"]


def open_checkout(browser: Client, checkout_url: str) -> tuple[str, str]:
    """GET the checkout page; (page HTML, CSRF token of its form)."""
    page = browser.get(checkout_url)
    assert page.status_code == 200
    html = page.content.decode()
    match = CSRF_INPUT.search(html)
    assert match, "the checkout form carries a CSRF token"
    return html, match.group(1)


def test_pay_completes_the_order_with_one_top_up(browser):
    order_id, session_id, checkout_url = start_renewal(browser)
    assert checkout_url == f"{settings.PUBLIC_BASE_URL}/api/esim/sandbox/checkout/{session_id}/"

    html, token = open_checkout(browser, checkout_url)

    assert '<p class="price" data-testid="price">$1.60</p>' in html
    assert f'<dd data-testid="order-id">{order_id}</dd>' in html
    assert "<dd>893204*********5583</dd>" in html  # masked: never the whole ICCID in a page
    assert SEED_ICCID not in html
    assert 'value="pay"' in html

    paid = browser.post(checkout_url, {"action": "pay", "csrfmiddlewaretoken": token})

    assert paid.status_code == 302
    assert paid["Location"] == f"{FRONTEND_URL}/renewal/success?session_id={session_id}"
    # The sandbox delivered its signed webhook through the real handler before redirecting.
    event = PaymentEvent.objects.get()
    assert (event.gateway, event.type, event.result) == ("sandbox", "checkout.session.completed", "processed")
    assert order_of(order_id).status == S.COMPLETED

    # The frontend's success page confirms, twice at once in development mode, and on every reload.
    answers = [post_json(browser, CONFIRM, {"session_id": session_id}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    shown = answers[0].json()["order"]
    assert {key: shown[key] for key in ("order_id", "iccid", "provider", "amount", "currency", "status")} == {
        "order_id": order_id,
        "iccid": SEED_ICCID,
        "provider": "TRAVELROAM",
        "amount": "1.60",
        "currency": "USD",
        "status": "COMPLETED",
    }
    polled = browser.get(order_url(order_id))
    assert (polled.status_code, polled.json()["order"]["status"]) == (200, "COMPLETED")
    [top_up] = top_ups()
    assert (top_up["provider"], top_up["iccid"], top_up["item"]) == ("travelroam", SEED_ICCID, SEED_BUNDLE)
    assert charges(order_of(order_id)) == [("CHARGE", "PAID", SERVER_PRICE, session_id)]
    # A fresh status check shows the new bundle queued on the eSIM (the top-up dropped the cached answer).
    bundles = post_json(browser, "/api/esim/check/", {"iccid": SEED_ICCID}).json()["bundles"]
    assert [(b["name"], b["status"]) for b in bundles] == [
        (SEED_BUNDLE, "Not Active"),
        (SEED_BUNDLE, "Expired"),
    ]

    # The page now says so, and offers nothing more to click.
    done = browser.get(checkout_url).content.decode()
    assert '<dd data-testid="status">complete / paid</dd>' in done
    assert 'value="pay"' not in done


def test_the_checkout_form_is_csrf_protected(browser):
    order_id, _session_id, checkout_url = start_renewal(browser)
    open_checkout(browser, checkout_url)

    forged = browser.post(checkout_url, {"action": "pay"})

    assert forged.status_code == 403
    assert order_of(order_id).status == S.PENDING
    assert top_ups() == []


def test_fail_sends_the_customer_back_and_confirm_reports_the_failure(browser):
    order_id, session_id, checkout_url = start_renewal(browser)
    _html, token = open_checkout(browser, checkout_url)

    failed = browser.post(checkout_url, {"action": "fail", "csrfmiddlewaretoken": token})

    assert failed.status_code == 302
    assert failed["Location"] == f"{FRONTEND_URL}/renewal/success?session_id={session_id}"
    confirmed = post_json(browser, CONFIRM, {"session_id": session_id})
    assert confirmed.status_code == 409
    assert confirmed.json() == {
        "error": "The payment has not been completed.",
        "code": "payment_not_completed",
        "details": "The payment failed. Start a new renewal to try again.",
    }
    assert order_of(order_id).status == S.FAILED
    assert browser.get(order_url(order_id)).json()["order"]["status"] == "FAILED"
    assert charges(order_of(order_id)) == [("CHARGE", "FAILED", SERVER_PRICE, session_id)]
    assert top_ups() == []


def test_expire_sends_the_customer_to_the_cancel_page(browser):
    order_id, session_id, checkout_url = start_renewal(browser)
    _html, token = open_checkout(browser, checkout_url)

    expired = browser.post(checkout_url, {"action": "expire", "csrfmiddlewaretoken": token})

    assert expired.status_code == 302
    assert expired["Location"] == CANCEL_URL
    assert order_of(order_id).status == S.EXPIRED
    confirmed = post_json(browser, CONFIRM, {"session_id": session_id})
    assert (confirmed.status_code, confirmed.json()["details"]) == (
        409,
        "The checkout expired before payment. Start a new renewal.",
    )
    assert top_ups() == []


def test_pay_on_a_page_whose_checkout_expired_meanwhile_goes_to_the_cancel_page(browser):
    order_id, session_id, checkout_url = start_renewal(browser)
    _html, token = open_checkout(browser, checkout_url)
    # The customer left the page open past the session's expiry, then clicked Pay.
    SandboxCheckout.objects.filter(session_id=session_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )

    late = browser.post(checkout_url, {"action": "pay", "csrfmiddlewaretoken": token})

    assert late.status_code == 302
    assert late["Location"] == CANCEL_URL
    assert PaymentEvent.objects.count() == 0  # nothing was paid, so no event
    confirmed = post_json(browser, CONFIRM, {"session_id": session_id})
    assert (confirmed.status_code, confirmed.json()["code"]) == (409, "payment_not_completed")
    assert order_of(order_id).status == S.EXPIRED
    assert top_ups() == []


def test_a_double_click_on_pay_lands_on_the_success_page_twice(browser, monkeypatch):
    order_id, session_id, checkout_url = start_renewal(browser)
    _html, token = open_checkout(browser, checkout_url)
    original = SandboxGateway.retrieve_checkout

    def first_click_completes_meanwhile(self, session_id):
        # The second click read the session while it was still open; the first click then paid it.
        state = original(self, session_id)
        monkeypatch.setattr(SandboxGateway, "retrieve_checkout", original)
        browser.post(checkout_url, {"action": "pay", "csrfmiddlewaretoken": token})
        return state

    monkeypatch.setattr(SandboxGateway, "retrieve_checkout", first_click_completes_meanwhile)

    second = browser.post(checkout_url, {"action": "pay", "csrfmiddlewaretoken": token})

    assert second.status_code == 302
    assert second["Location"] == f"{FRONTEND_URL}/renewal/success?session_id={session_id}"
    assert order_of(order_id).status == S.COMPLETED
    assert PaymentEvent.objects.count() == 1
    assert len(top_ups()) == 1


def test_the_checkout_page_does_not_exist_with_the_stripe_gateway(browser, settings):
    _order_id, _session_id, checkout_url = start_renewal(browser)
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"

    assert browser.get(checkout_url).status_code == 404


# --- who may press the buttons -------------------------------------------------------------------


def test_with_debug_off_the_page_says_staff_login_required_and_offers_no_button(anonymous):
    order_id, session_id, checkout_url = start_renewal(anonymous)

    page = anonymous.get(checkout_url)

    assert page.status_code == 200
    html = page.content.decode()
    assert f'<dd data-testid="order-id">{order_id}</dd>' in html  # the customer still sees the order
    assert "Staff login required" in html
    assert f'href="/admin/login/?next=%2Fapi%2Fesim%2Fsandbox%2Fcheckout%2F{session_id}%2F"' in html
    assert 'value="pay"' not in html


def csrf_token_without_the_form(client: Client) -> str:
    """A valid CSRF token from another page, as a forged or replayed form would carry: the staff check
    must hold on its own, not only because the page offers no form."""
    return client.get("/admin/login/").cookies["csrftoken"].value


@pytest.mark.parametrize("action", ["pay", "fail", "expire"])
def test_with_debug_off_an_anonymous_click_is_refused_and_changes_nothing(anonymous, action):
    order_id, session_id, checkout_url = start_renewal(anonymous)
    token = csrf_token_without_the_form(anonymous)
    before = RenewalOrder.objects.values().get(order_id=order_id)

    refused = anonymous.post(checkout_url, {"action": action, "csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert "Staff login required" in refused.content.decode()
    assert "Nothing was paid and the order is unchanged" in refused.content.decode()
    assert RenewalOrder.objects.values().get(order_id=order_id) == before
    checkout = SandboxCheckout.objects.get(session_id=session_id)
    assert (checkout.status, checkout.payment_status) == ("open", "unpaid")
    assert PaymentEvent.objects.count() == 0
    assert top_ups() == []


def test_with_debug_off_a_logged_in_customer_who_is_not_staff_is_refused(db):
    customer = get_user_model().objects.create_user("customer", "customer@example.com", "pw-for-tests-only")
    client = browser_of(customer)
    order_id, _session_id, checkout_url = start_renewal(client)
    token = csrf_token_without_the_form(client)

    refused = client.post(checkout_url, {"action": "pay", "csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert order_of(order_id).status == S.PENDING
    assert top_ups() == []


def test_with_debug_on_anyone_may_pay_as_make_run_promises(anonymous, settings):
    settings.DEBUG = True
    order_id, session_id, checkout_url = start_renewal(anonymous)
    _html, token = open_checkout(anonymous, checkout_url)

    paid = anonymous.post(checkout_url, {"action": "pay", "csrfmiddlewaretoken": token})

    assert paid.status_code == 302
    assert paid["Location"] == f"{FRONTEND_URL}/renewal/success?session_id={session_id}"
    assert order_of(order_id).status == S.COMPLETED
    assert len(top_ups()) == 1
