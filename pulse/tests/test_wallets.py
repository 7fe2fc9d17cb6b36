"""The sales guard and wallet checks (pulse.services.wallets) against the in-process simulators.

Pause transitions are compare-and-set: told once per pause; low-balance warnings once per crossing;
resume by a balance read (not for a staff pause) or by staff in the admin (banner button, action).
"""

from __future__ import annotations

import contextlib
from decimal import Decimal
from io import StringIO
from unittest import mock

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client

from esim_status_checker.env import env_amounts
from providers.sandbox import reset_default_world
from pulse.models import JobRun, ProviderSalesPause
from pulse.services import wallets
from pulse.services.catalog import catalog_sync
from pulse.tests.test_metrics import TOKEN, scrape, value

pytestmark = pytest.mark.django_db(transaction=True)

Cause = ProviderSalesPause.Cause
STAFF = ["ops@example.com"]
RESUME = "/admin/pulse/providersalespause/resume/{}/"


@pytest.fixture
def world(settings):
    settings.STAFF_ALERT_EMAILS = STAFF
    settings.WALLET_WARN_BELOW = {}
    world = reset_default_world()
    catalog_sync(provider="travelroam")  # the cheapest TravelRoam bundle costs 0.49 USD
    mail.outbox.clear()
    yield world
    reset_default_world()


def staff_mail() -> list:
    return [message for message in mail.outbox if message.to == STAFF]


def check(world, balance: str) -> str:
    world.set_wallet("travelroam", balance)
    out = StringIO()
    with contextlib.suppress(SystemExit):
        call_command("check_wallets", stdout=out)
    return out.getvalue()


def row() -> ProviderSalesPause:
    return ProviderSalesPause.objects.get(provider="travelroam")


def test_check_wallets_prints_each_balance_and_records_the_run(world):
    world.set_wallet("airhub", "12.34")
    printed = check(world, "80")

    assert "airhub: $12.34; sales selling" in printed
    assert "travelroam: $80.00; sales selling" in printed
    assert "esimcard: $100.00; sales selling" in printed
    assert row().last_balance == Decimal("80")
    assert row().balance_currency == "USD"
    assert JobRun.objects.filter(job="check_wallets", ok=True).count() == 1


def test_a_balance_below_the_cheapest_bundle_pauses_once_and_enough_funds_resume(world):
    printed = check(world, "0.40")

    assert "travelroam: $0.40; sales PAUSED (paused now)" in printed
    assert (row().paused, row().cause, row().resume_at_balance) == (True, Cause.LOW_BALANCE, Decimal("0.49"))
    assert wallets.is_paused("travelroam")
    check(world, "0.10")  # still below: no second pause, no second e-mail
    assert row().pauses == 1
    [alert] = staff_mail()
    assert "below the cheapest bundle ($0.49)" in alert.body

    check(world, "0.48")
    assert row().paused
    printed = check(world, "0.49")
    assert "(resumed now)" in printed
    assert not wallets.is_paused("travelroam")
    assert len(staff_mail()) == 1


def test_pause_is_told_once_however_many_workers_see_the_wallet_empty(world):
    results = [
        wallets.pause("travelroam", cause=Cause.INSUFFICIENT_FUNDS, reason="refused", resume_at=Decimal("2"))
        for _ in range(5)
    ]

    assert results == [True, False, False, False, False]
    assert row().pauses == 1
    assert len(staff_mail()) == 1


def test_a_pause_alert_that_could_not_be_sent_is_sent_by_the_next_check(world):
    with mock.patch("pulse.services.wallets.EmailMessage.send", side_effect=OSError("mail server down")):
        assert wallets.pause("travelroam", cause=Cause.INSUFFICIENT_FUNDS, reason="refused")
    assert row().alert_sent_at is None
    assert staff_mail() == []

    check(world, "0")

    assert len(staff_mail()) == 1
    assert row().alert_sent_at is not None
    check(world, "0")
    assert len(staff_mail()) == 1


def test_an_insufficient_funds_pause_resumes_only_when_the_refused_bundle_is_affordable(world):
    wallets.pause(
        "travelroam", cause=Cause.INSUFFICIENT_FUNDS, reason="refused", resume_at=Decimal("5"), currency="USD"
    )
    check(world, "4.99")
    assert row().paused
    check(world, "5.00")
    assert not row().paused
    assert row().resumed_by == "check_wallets"


def test_a_staff_pause_is_not_resumed_by_a_balance_read(world):
    wallets.pause("travelroam", cause=Cause.STAFF, reason="Paused by staff:ops")
    check(world, "500")
    assert row().paused


def test_low_balance_warning_is_sent_once_per_crossing_and_re_armed_above(world, settings):
    settings.WALLET_WARN_BELOW = {"travelroam": Decimal("20")}
    check(world, "30")
    assert staff_mail() == []

    check(world, "15")
    check(world, "10")
    [warning] = staff_mail()
    assert warning.subject.endswith("Low travelroam wallet: $15.00")
    assert "$20.00" in warning.body
    assert not row().paused  # a warning is not a pause

    check(world, "25")  # back above: re-armed
    check(world, "19")
    assert len(staff_mail()) == 2


def test_no_separate_warning_while_the_pause_alert_already_told_staff(world, settings):
    settings.WALLET_WARN_BELOW = {"travelroam": Decimal("20")}
    check(world, "0.10")
    assert [m.subject for m in staff_mail()] == [
        "[eSIM Status Checker] Renewals paused: travelroam cannot take top-ups"
    ]


def test_a_failed_wallet_read_changes_nothing_and_fails_the_run(world):
    world.set_fault("travelroam", "http_500", path_contains="organisation")
    printed = check(world, "0")

    assert "travelroam: balance unknown (unavailable" in printed
    assert not row().paused
    assert row().balance_error.startswith("unavailable")
    assert JobRun.objects.get(job="check_wallets").ok is False


def test_health_is_degraded_and_metrics_show_balances_and_the_pause(world, settings):
    settings.METRICS_TOKEN = TOKEN
    check(world, "42.5")
    text = scrape().content.decode()
    assert value(text, "esim_provider_wallet_balance", provider="travelroam", currency="USD") == 42.5
    assert value(text, "esim_provider_sales_paused", provider="travelroam") == 0.0

    check(world, "0")
    text = scrape().content.decode()
    assert value(text, "esim_provider_sales_paused", provider="travelroam") == 1.0
    assert value(text, "esim_provider_sales_paused", provider="airhub") == 0.0
    health = Client().get("/api/esim/health/").json()
    assert health["status"] == "degraded"
    assert health["wallets"]["travelroam"]["sales"] == "paused"
    assert "42.5" not in str(health["wallets"])  # amounts are not public


# --- the admin --------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(db) -> Client:
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw-for-tests-only")
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def test_every_admin_page_shows_the_banner_with_a_resume_button_while_paused(world, staff_client):
    assert "sales-pause-banner" not in staff_client.get("/admin/").content.decode()
    wallets.pause("travelroam", cause=Cause.INSUFFICIENT_FUNDS, reason="Top-up refused: Insufficient balance")

    for path in ("/admin/", "/admin/pulse/renewalorder/", "/admin/pulse/bundle/"):
        page = staff_client.get(path).content.decode()
        assert 'id="sales-pause-banner"' in page, path
        assert "Renewals paused: travelroam" in page
        assert RESUME.format("travelroam") in page


def test_the_banner_resume_button_resumes_and_records_who(world, staff_client):
    wallets.pause("travelroam", cause=Cause.STAFF, reason="Paused by staff:ops")

    assert staff_client.get(RESUME.format("travelroam")).status_code == 405  # POST only
    response = staff_client.post(RESUME.format("travelroam"), {"next": "/admin/pulse/bundle/"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/pulse/bundle/"
    assert (row().paused, row().resumed_by) == (False, "staff:ops")
    assert "sales-pause-banner" not in staff_client.get("/admin/").content.decode()


def test_resume_refuses_an_outside_redirect_and_non_staff(world, staff_client):
    wallets.pause("travelroam", cause=Cause.STAFF, reason="x")
    response = staff_client.post(RESUME.format("travelroam"), {"next": "https://evil.example.com/"})
    assert response["Location"] == "/admin/pulse/providersalespause/"

    wallets.pause("travelroam", cause=Cause.STAFF, reason="x")
    outsider = Client()
    assert outsider.post(RESUME.format("travelroam")).status_code == 302  # to the login page
    assert row().paused


def test_admin_actions_pause_and_resume(world, staff_client):
    changelist = "/admin/pulse/providersalespause/"
    page = staff_client.get(changelist).content.decode()
    assert page.count("selling") >= 3  # one row per provider, created on first view
    pk = row().pk

    staff_client.post(changelist, {"action": "pause_sales", "_selected_action": [pk]})
    assert (row().paused, row().cause) == (True, Cause.STAFF)
    staff_client.post(changelist, {"action": "resume_sales", "_selected_action": [pk]})
    assert (row().paused, row().resumed_by) == (False, "staff:ops")


# --- settings ------------------------------------------------------------------------------------------------


def test_wallet_warn_below_pairs_and_default(monkeypatch):
    names = ("airhub", "esimcard", "travelroam")
    monkeypatch.setenv("WALLET_WARN_BELOW", "airhub=50, travelroam=12.5")
    assert env_amounts("WALLET_WARN_BELOW", names) == {"airhub": Decimal("50"), "travelroam": Decimal("12.5")}
    monkeypatch.setenv("WALLET_WARN_BELOW", "25,airhub=0")
    assert env_amounts("WALLET_WARN_BELOW", names) == {
        "airhub": Decimal("0"),
        "esimcard": Decimal("25"),
        "travelroam": Decimal("25"),
    }
    monkeypatch.delenv("WALLET_WARN_BELOW")
    assert env_amounts("WALLET_WARN_BELOW", names) == {}


@pytest.mark.parametrize("raw", ["nobody=5", "airhub=lots", "airhub=-1", "airhub=NaN"])
def test_wallet_warn_below_refuses_nonsense(monkeypatch, raw):
    monkeypatch.setenv("WALLET_WARN_BELOW", raw)
    with pytest.raises(ImproperlyConfigured, match="WALLET_WARN_BELOW"):
        env_amounts("WALLET_WARN_BELOW", ("airhub", "esimcard", "travelroam"))
