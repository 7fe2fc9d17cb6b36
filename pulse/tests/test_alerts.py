"""Usage and expiry alerts end to end (issue 13, docs/alerts.md): subscribe → confirm → scan → exactly
one alert per threshold and plan period; the unsubscribe link; the signed links; privacy; scheduling.

The providers are the in-process simulators (test settings); e-mails land in Django's locmem outbox;
Celery tasks run eagerly, so the worker's half of a subscribe runs inside the request here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from pulse.models import AlertSent, AlertSubscription
from pulse.services import alert_scan
from pulse.services.alert_scan import read_status, scan_alerts
from pulse.services.catalog import catalog_sync
from pulse.tests.alert_helpers import (  # noqa: F401 - alerts_env_fixture registers the fixture
    EMAIL,
    GERMANY,
    NETHERLANDS,
    PORTUGAL,
    REVOKED,
    SUBSCRIBE,
    TURKEY,
    UNKNOWN,
    alerts_env_fixture,
    confirmed_subscription,
    links,
    path_of,
    scan_later,
    subscribe,
)
from pulse.tests.background_helpers import broker_down_fixture  # noqa: F401 - registers the fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("alerts_env")]


def alert_emails():
    return [message for message in mail.outbox if "List-Unsubscribe" in message.extra_headers]


def thresholds_sent(subscription) -> list[str]:
    return sorted(
        AlertSent.objects.filter(subscription=subscription, sent_at__isnull=False).values_list(
            "threshold", flat=True
        )
    )


# --- subscribe ----------------------------------------------------------------------------------------


def test_subscribe_answers_202_with_the_same_body_whatever_the_esim():
    known = subscribe()
    unknown = subscribe(iccid=UNKNOWN)
    again = subscribe()
    assert known.status_code == unknown.status_code == again.status_code == 202
    assert known.json() == unknown.json() == again.json()
    # Only the eSIM a provider knows got a confirmation e-mail (one: the repeat within 10 minutes
    # does not e-mail again), and nothing is stored for the unknown one.
    assert [message.to for message in mail.outbox] == [[EMAIL]]
    assert list(AlertSubscription.objects.values_list("iccid", "confirmed_at")) == [(PORTUGAL, None)]


def test_with_the_broker_down_subscribe_still_answers_202_and_logs_no_address(
    broker_down, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level("WARNING")
    with django_capture_on_commit_callbacks(execute=True):
        answer = subscribe()
    assert answer.status_code == 202
    assert not mail.outbox
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "could not hand pulse.tasks.alert_subscription_request (an alert subscription for 894400" in text
    assert "no confirmation e-mail is sent" in text
    assert PORTUGAL not in text
    assert EMAIL not in text


def test_the_confirmation_e_mail_links_to_public_base_url_never_to_the_request_host():
    response = APIClient().post(
        SUBSCRIBE, {"iccid": PORTUGAL, "email": EMAIL}, format="json", HTTP_HOST="localhost"
    )
    assert response.status_code == 202
    (message,) = mail.outbox
    assert message.subject == "Confirm your eSIM usage alerts"
    (confirm,) = links(message, "confirm")
    assert confirm.startswith("https://api.example.test/api/esim/alerts/confirm/")
    assert "localhost" not in message.body
    html = message.alternatives[0][0]
    assert confirm in html
    assert "894400*********1009" in html
    assert PORTUGAL not in html


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"iccid": "8944000000000001008"}, "invalid_iccid"),  # Luhn digit wrong
        ({"iccid": "12345"}, "invalid_iccid"),
        ({"email": "not-an-address"}, "invalid_input"),
        ({"thresholds": ["data_50"]}, "invalid_input"),
        ({"thresholds": []}, "invalid_input"),
        ({"email": "a\x00b@example.com"}, "invalid_input"),
    ],
)
def test_invalid_input_is_refused_and_nothing_is_sent(body, code):
    response = subscribe(**body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert mail.outbox == []
    assert not AlertSubscription.objects.exists()


def test_subscriptions_are_throttled_per_address_across_client_ips(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "alerts_email": "2/day", "alerts": "100/min"}
    answers = [
        subscribe(APIClient(REMOTE_ADDR=f"198.51.100.{n}"), email="Victim@Example.com").status_code
        for n in range(3)
    ]
    other = subscribe(APIClient(REMOTE_ADDR="198.51.100.9"), email="someone.else@example.com")
    assert answers == [202, 202, 429]
    assert other.status_code == 202


def test_subscriptions_are_throttled_per_client_ip(settings):
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "alerts": "2/min", "alerts_email": "100/day"}
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    answers = [subscribe(client, email=f"person{n}@example.com").status_code for n in range(3)]
    assert answers == [202, 202, 429]


# --- confirm and the signed links ----------------------------------------------------------------------


def test_confirm_page_turns_alerts_on_once_and_answers_json_when_asked():
    subscribe()
    path = path_of(links(mail.outbox[0], "confirm")[0])
    page = APIClient().get(path)
    assert page.status_code == 200
    assert page["Content-Type"].startswith("text/html")
    assert "Alerts confirmed" in page.content.decode()
    subscription = AlertSubscription.objects.get()
    assert subscription.confirmed
    assert subscription.next_scan_at <= timezone.now()
    again = APIClient().get(path, HTTP_ACCEPT="application/json")
    assert again.json() == {
        "status": "already_confirmed",
        "message": again.json()["message"],
        "iccid": "894400*********1009",
    }


def test_a_tampered_link_is_refused_and_an_old_confirm_link_has_expired():
    subscribe()
    path = path_of(links(mail.outbox[0], "confirm")[0])
    tampered = APIClient().get(path[:-3] + "x/", HTTP_ACCEPT="application/json")
    assert tampered.status_code == 404
    assert tampered.json()["code"] == "alert_link_invalid"
    with time_machine.travel(timezone.now() + timedelta(hours=49)):
        late = APIClient().get(path, HTTP_ACCEPT="application/json")
        late_page = APIClient().get(path)
    assert late.status_code == 410
    assert late.json()["code"] == "alert_link_expired"
    assert late_page.status_code == 410
    assert "expired" in late_page.content.decode()
    assert not AlertSubscription.objects.get().confirmed


def test_a_confirm_token_does_not_unsubscribe_and_vice_versa():
    subscription = confirmed_subscription()
    from pulse.services.alerts import confirm_url

    swapped = confirm_url(subscription).replace("/confirm/", "/unsubscribe/")
    answer = APIClient().get(path_of(swapped), HTTP_ACCEPT="application/json")
    assert answer.status_code == 404
    assert AlertSubscription.objects.get().email == EMAIL


# --- scanning: once per threshold and period --------------------------------------------------------


def test_subscribe_confirm_scan_sends_exactly_one_alert_per_threshold():
    catalog_sync(provider="travelroam")
    subscription = confirmed_subscription()
    first = scan_alerts()
    assert (first.emails, first.alerts) == (1, 1)
    (message,) = alert_emails()
    assert message.subject == "You have used 80 % of your eSIM data (894400*********1009)"
    assert "Data left: 0.45 GB" in message.body
    assert "Same plan again: $" in message.body  # esim_3GB_15D_PT_V2 from the synced catalogue
    assert f"Renew this eSIM: https://shop.example.test/?iccid={PORTUGAL}" in message.body
    # Later passes see the same plan period: nothing more.
    for hours in (2, 4, 8):
        scan_later(hours)
    assert len(alert_emails()) == 1
    assert thresholds_sent(subscription) == ["data_80"]

    # The data runs out: only the new threshold is sent.
    _set_remaining(PORTUGAL, 0)
    scan_later(10)
    assert len(alert_emails()) == 2
    assert alert_emails()[-1].subject.startswith("Your eSIM data is used up")
    assert thresholds_sent(subscription) == ["data_100", "data_80"]
    scan_later(12)
    assert len(alert_emails()) == 2


def test_thresholds_crossed_together_make_one_e_mail_led_by_the_most_severe():
    subscription = confirmed_subscription(TURKEY)  # used up and expired
    scan_alerts()
    (message,) = alert_emails()
    assert message.subject.startswith("Your eSIM plan has expired")
    assert "Also: Your eSIM data is used up; Your eSIM plan ends within 72 hours; You have used 80 %" in (
        message.body
    )
    assert thresholds_sent(subscription) == ["data_100", "data_80", "expired", "expiry_72h"]
    assert AlertSent.objects.get(lead=True).threshold == "expired"


def test_only_the_thresholds_asked_for_are_sent():
    subscription = confirmed_subscription(GERMANY, thresholds=["expiry_72h", "expired"])
    scan_alerts()
    assert alert_emails() == []
    assert thresholds_sent(subscription) == []


def test_a_renewal_a_new_bundle_re_arms_the_thresholds():
    subscription = confirmed_subscription(GERMANY)
    scan_alerts()
    assert len(alert_emails()) == 1
    _renew(GERMANY, days_ago=0, remaining=0)  # a new bundle, used up at once
    scan_later(2)
    assert len(alert_emails()) == 2
    assert AlertSent.objects.filter(subscription=subscription).values("period_key").distinct().count() == 2


def test_an_e_mail_that_fails_is_sent_on_a_later_pass(monkeypatch):
    subscription = confirmed_subscription()
    monkeypatch.setattr("pulse.services.alert_scan.send_alert", lambda *args: False)
    scan_alerts()
    assert not AlertSent.objects.exists()
    monkeypatch.undo()
    scan_later(2)
    assert len(alert_emails()) == 1
    assert thresholds_sent(subscription) == ["data_80"]


# --- the unsubscribe link ------------------------------------------------------------------------------


def test_unsubscribe_from_the_e_mails_link_deletes_the_address_and_stops_alerts():
    subscription = confirmed_subscription(GERMANY)
    scan_alerts()
    (message,) = alert_emails()
    (unsubscribe,) = links(message, "unsubscribe")
    assert message.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in message.alternatives[0][0]

    page = APIClient().get(path_of(unsubscribe))
    assert page.status_code == 200
    assert "Unsubscribed" in page.content.decode()
    subscription.refresh_from_db()
    assert (subscription.email, subscription.end_reason) == ("", "unsubscribed")
    assert subscription.ended_at is not None
    _renew(GERMANY, days_ago=0, remaining=0)
    scan_later(2)
    assert len(alert_emails()) == 1
    again = APIClient().get(path_of(unsubscribe), HTTP_ACCEPT="application/json")
    assert again.json()["status"] == "already_unsubscribed"


def test_one_click_unsubscribe_by_post_as_mail_programs_do():
    subscription = confirmed_subscription(GERMANY)
    scan_alerts()
    (unsubscribe,) = links(alert_emails()[0], "unsubscribe")
    response = APIClient().post(
        path_of(unsubscribe),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        HTTP_ACCEPT="application/json",
    )
    assert response.status_code == 200
    assert response.json()["status"] == "unsubscribed"
    subscription.refresh_from_db()
    assert subscription.email == ""
    assert subscription.ended_at is not None


# --- privacy and lifetime --------------------------------------------------------------------------------


def test_pending_subscriptions_and_their_addresses_go_after_48_hours():
    subscribe()
    assert AlertSubscription.objects.filter(email=EMAIL).exists()
    scan_alerts(now=timezone.now() + timedelta(hours=47))
    assert AlertSubscription.objects.exists()
    summary = scan_alerts(now=timezone.now() + timedelta(hours=49))
    assert summary.pending_deleted == 1
    assert not AlertSubscription.objects.exists()


def test_a_revoked_esim_ends_the_subscription_after_7_days():
    subscription = confirmed_subscription(REVOKED)
    scan_alerts()
    subscription.refresh_from_db()
    assert subscription.last_status == "revoked"
    assert subscription.gone_since is not None
    assert alert_emails() == []
    scan_later(24 * 7 + 2)
    subscription.refresh_from_db()
    assert (subscription.end_reason, subscription.email) == ("esim_gone", "")


def test_subscriptions_end_after_alert_max_days(settings):
    settings.ALERT_MAX_DAYS = 30
    subscription = confirmed_subscription()
    scan_alerts(now=timezone.now() + timedelta(days=29))
    subscription.refresh_from_db()
    assert subscription.ended_at is None
    scan_alerts(now=timezone.now() + timedelta(days=31))
    subscription.refresh_from_db()
    assert (subscription.end_reason, subscription.email) == ("max_age", "")


def test_iccids_are_masked_in_the_logs(caplog):
    caplog.set_level("INFO")
    confirmed_subscription()
    scan_alerts()
    assert alert_emails()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "894400*********1009" in text
    assert PORTUGAL not in text
    assert EMAIL not in text


# --- scheduling ------------------------------------------------------------------------------------------


def test_the_next_look_comes_sooner_near_a_threshold_or_the_plans_end(settings):
    settings.ALERT_SCAN_INTERVAL = 3600
    now = timezone.now()
    far = read_status({"status_code": "active", "usage": _usage(0.2), "expires_at": _iso(now, days=9)}, now)
    near_data = read_status(
        {"status_code": "active", "usage": _usage(0.7), "expires_at": _iso(now, days=9)}, now
    )
    near_end = read_status(
        {"status_code": "active", "usage": _usage(0.2), "expires_at": _iso(now, hours=40)}, now
    )
    at_72h = read_status(
        {"status_code": "active", "usage": _usage(0.2), "expires_at": _iso(now, hours=72, minutes=10)}, now
    )
    assert timedelta(minutes=54) <= alert_scan.next_delay(far, now) <= timedelta(hours=1)
    assert alert_scan.next_delay(near_data, now) <= timedelta(minutes=15)
    assert alert_scan.next_delay(near_end, now) <= timedelta(minutes=15)
    # Never later than the moment the plan reaches 72 hours left.
    assert alert_scan.next_delay(at_72h, now) <= timedelta(minutes=11)


def test_the_demo_esim_ending_tomorrow_gets_an_expiry_alert():
    subscription = confirmed_subscription(NETHERLANDS)
    scan_alerts()
    (message,) = alert_emails()
    assert message.subject.startswith("Your eSIM plan ends within 72 hours")
    assert "Days left: less than 1" in message.body or "Days left: 1" in message.body
    subscription.refresh_from_db()
    assert subscription.next_scan_at - timezone.now() <= timedelta(minutes=16)


def test_scan_alerts_command_prints_its_summary(capsys):
    confirmed_subscription()
    call_command("scan_alerts")
    out = capsys.readouterr().out
    assert "alert_scan: 1 looked at (0 provider lookups, 1 from cache), 1 e-mails (1 alerts)" in out


def test_the_beat_schedule_runs_the_scanner(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["alert_scan"]
    assert entry["task"] == "pulse.tasks.scan_alerts"
    confirmed_subscription()
    from pulse.tasks import scan_alerts as task

    assert task.delay().get() == "ok"
    assert len(alert_emails()) == 1


# --- helpers --------------------------------------------------------------------------------------------


def _usage(share: float) -> dict:
    capacity = 1_000_000_000
    used = int(capacity * share)
    return {"capacity_bytes": capacity, "consumed_bytes": used, "remaining_bytes": capacity - used}


def _iso(now, **delta) -> str:
    return (now + timedelta(**delta)).isoformat()


def _set_remaining(iccid: str, remaining: int) -> None:
    from providers.sandbox import get_default_world

    world = get_default_world()
    with world.edit():
        (assignment,) = world.data.tr_esims[iccid].assignments
        assignment.remaining_bytes = remaining
        if remaining == 0:
            assignment.state = "depleted"


def _renew(iccid: str, *, days_ago: int, remaining: int) -> None:
    """A new bundle on the eSIM (what a top-up does), started `days_ago`."""
    import dataclasses

    from providers.sandbox import get_default_world

    world = get_default_world()
    with world.edit():
        esim = world.data.tr_esims[iccid]
        old = esim.assignments[-1]
        start = timezone.now() - timedelta(days=days_ago, minutes=5)
        new = dataclasses.replace(
            old,
            id=str(int(old.id) + 1),
            reference=old.reference[:-2] + "-1",
            remaining_bytes=remaining,
            assigned_at=start,
            start_at=start,
            end_at=start + timedelta(days=7),
            state="depleted" if remaining == 0 else "active",
        )
        old.state = "expired"
        esim.assignments.append(new)


def test_one_subscription_that_crashes_does_not_stop_the_pass(monkeypatch):
    first = confirmed_subscription(GERMANY, email="first@example.com")
    confirmed_subscription(PORTUGAL, email="second@example.com")
    real = alert_scan.alert_if_crossed

    def crash_for_the_first(subscription, *args):
        if subscription.pk == first.pk:
            raise RuntimeError("a bug")
        return real(subscription, *args)

    monkeypatch.setattr(alert_scan, "alert_if_crossed", crash_for_the_first)
    summary = scan_alerts()
    assert summary.errors == [f"subscription {first.pk}: RuntimeError"]
    assert [message.to for message in alert_emails()] == [["second@example.com"]]
    from pulse.services import jobs

    outcome = jobs.run_job("alert_scan")
    assert outcome is not None
    assert outcome.ok  # the crashed one is still claimed: nothing failed in this run


def test_no_alert_e_mail_goes_out_without_public_base_url_and_it_is_retried(settings):
    subscription = confirmed_subscription()
    settings.PUBLIC_BASE_URL = ""
    scan_alerts()
    assert alert_emails() == []
    assert not AlertSent.objects.exists()
    settings.PUBLIC_BASE_URL = "https://api.example.test"
    scan_later(2)
    assert thresholds_sent(subscription) == ["data_80"]


def test_provider_text_is_escaped_in_the_html_e_mail_and_kept_out_of_the_subject():
    from providers.sandbox import get_default_world

    world = get_default_world()
    with world.edit():
        (assignment,) = world.data.tr_esims[PORTUGAL].assignments
        assignment.description = 'Portugal <script>alert("x")</script>'
    confirmed_subscription()
    scan_alerts()
    (message,) = alert_emails()
    html = message.alternatives[0][0]
    assert "<script>" not in html
    assert "Portugal &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "script" not in message.subject
