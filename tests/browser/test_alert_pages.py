"""The usage-alert pages in a real browser (docs/alerts.md): a subscription made over HTTP, the
confirmation link opened from the e-mail, then the unsubscribe link of the alert e-mail; a changed
link shows a page that says so. The links' host is PUBLIC_BASE_URL (the live server here)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from django.core import mail

from pulse.models import AlertSubscription
from pulse.services.alert_scan import scan_alerts
from pulse.tests.alert_helpers import PORTUGAL
from tests.browser.conftest import api_post

if TYPE_CHECKING:
    from playwright.sync_api import Page

expect = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright package").expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "traveller@example.com"


def link(site: str, kind: str) -> str:
    pattern = re.compile(rf"{re.escape(site)}/api/esim/alerts/{kind}/[^/\s]+/")
    found = [match.group(0) for message in mail.outbox for match in pattern.finditer(message.body)]
    assert found, f"no {kind} link in {[message.subject for message in mail.outbox]}"
    return found[-1]


def test_confirm_then_unsubscribe_pages(page: Page, site: str, world, settings):
    settings.ALERT_PROVIDER_BUDGET = 100
    response = api_post(site, "/api/esim/alerts/", {"iccid": PORTUGAL, "email": EMAIL})
    assert response.status_code == 202, response.text

    page.goto(link(site, "confirm"))
    expect(page.get_by_test_id("title")).to_have_text("Alerts confirmed")
    expect(page.get_by_test_id("iccid")).to_have_text("894400*********1009")
    assert AlertSubscription.objects.get().confirmed

    scan_alerts()
    page.goto(link(site, "unsubscribe"))
    expect(page.get_by_test_id("title")).to_have_text("Unsubscribed")
    expect(page.get_by_test_id("message")).to_contain_text("deleted your e-mail address")
    assert AlertSubscription.objects.get().email == ""


def test_a_changed_link_shows_a_page_that_says_so(page: Page, site: str, world):
    api_post(site, "/api/esim/alerts/", {"iccid": PORTUGAL, "email": EMAIL})
    response = page.goto(link(site, "confirm")[:-4] + "xx/")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_test_id("title")).to_have_text("This link is not valid (any more).")
    assert not AlertSubscription.objects.get().confirmed
