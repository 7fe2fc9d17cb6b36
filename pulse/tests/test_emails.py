"""Customer e-mails (pulse.services.emails) with Django's locmem backend."""

from __future__ import annotations

import logging
import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend

from pulse.models import RenewalOrder
from pulse.services import emails, order_state, staff_actions
from pulse.services.money import format_money
from pulse.tests.race_helpers import exceptions_in, run_together, skip_unless_shared_database
from pulse.tests.staff_helpers import (
    CUSTOMER,
    DEMO_BUNDLE_NAME,
    DEMO_ICCID,
    S,
    paid_order,
    sandbox_world_fixture,  # noqa: F401
    set_status,
    staff_user_fixture,  # noqa: F401
)

pytestmark = pytest.mark.django_db

RECEIPT = "Your eSIM top-up is done (order {})"
REFUNDED = "Your payment for order {} has been refunded"
REVIEW = "We are looking into your eSIM order {}"


class BrokenBackend(BaseEmailBackend):
    """A mail server that drops every connection."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def html_of(message) -> str:
    [(content, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    return content


@pytest.fixture(name="committed")
def committed_fixture(django_capture_on_commit_callbacks):
    """Run after-commit listeners (the e-mails) as a real commit would."""

    def run(action, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return action(*args, **kwargs)

    return run


def test_the_listener_is_connected_at_start_up():
    assert emails.on_order_transition in order_state._listeners


def test_a_completed_order_gets_one_receipt(sandbox_world, committed):
    order = committed(paid_order, sandbox_world)
    order.refresh_from_db()
    assert order.status == S.COMPLETED

    [message] = mail.outbox
    assert message.subject == RECEIPT.format(order.order_id)
    assert message.to == [CUSTOMER]
    assert message.from_email == "eSIM Support <noreply@example.com>"
    for body in (message.body, html_of(message)):
        assert order.order_id in body
        assert DEMO_BUNDLE_NAME in body
        assert "1.00 GB" in body
        assert "7 days" in body
        assert "$1.60 (USD)" in body or "<strong>$1.60</strong> (USD)" in body
        assert "893204*********5583" in body
        assert DEMO_ICCID not in body
    assert order.receipt_sent_at is not None
    assert (order.refund_notice_sent_at, order.review_notice_sent_at) == (None, None)


def test_the_receipt_uses_the_currency_symbol_of_the_order(sandbox_world, committed):
    order = committed(paid_order, sandbox_world, currency_code="EUR")
    order.refresh_from_db()
    price = format_money(order.amount, "EUR")
    assert price.startswith("€")
    [message] = mail.outbox
    assert f"Amount paid: {price} (EUR)" in message.body
    assert f"<strong>{price}</strong> (EUR)" in html_of(message)
    assert "$" not in message.body


def test_provider_strings_are_escaped_in_html_and_kept_as_text_in_plain_text(sandbox_world):
    order = paid_order(sandbox_world)
    name = '<script>alert("x")</script> 1GB & more'
    RenewalOrder.objects.filter(pk=order.pk).update(bundle_name=name)

    assert emails.send_status_email(order.pk, S.COMPLETED) is True

    [message] = mail.outbox
    html = html_of(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; 1GB &amp; more" in html
    assert f"Bundle:   {name}" in message.body  # text/plain is not HTML: shown as the provider wrote it
    assert "<script>" not in message.subject


def test_the_receipt_is_sent_once_even_if_the_listener_fires_twice(sandbox_world):
    order = paid_order(sandbox_world)  # listeners not run: the test transaction never commits
    assert mail.outbox == []

    emails.on_order_transition(order.pk, S.COMPLETED)
    emails.on_order_transition(order.pk, S.COMPLETED)
    assert emails.send_status_email(order.pk, S.COMPLETED) is False

    assert [m.subject for m in mail.outbox] == [RECEIPT.format(order.order_id)]


def test_no_e_mail_without_a_customer_address(sandbox_world, committed):
    order = committed(paid_order, sandbox_world, email="")
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert mail.outbox == []
    assert order.receipt_sent_at is None


def test_a_refunded_order_gets_the_refund_note_only(sandbox_world, committed):
    order = committed(paid_order, sandbox_world, refuse_top_up=True)
    order.refresh_from_db()
    assert order.status == S.REFUNDED

    [message] = mail.outbox
    assert message.subject == REFUNDED.format(order.order_id)
    assert "we have refunded the full amount" in message.body
    assert "Amount refunded: $1.60 (USD)" in message.body
    assert "5 to 10 business days" in html_of(message)
    assert order.refund_notice_sent_at is not None


def test_manual_review_gets_a_note_then_the_receipt_when_staff_complete_it(
    sandbox_world, committed, settings, staff_user
):
    settings.RENEWAL_AUTO_REFUND = False
    order = committed(paid_order, sandbox_world, refuse_top_up=True)
    committed(
        staff_actions.mark_completed, order, user=staff_user, note="checked", provider_reference="TR-77"
    )

    assert [m.subject for m in mail.outbox] == [
        REVIEW.format(order.order_id),
        RECEIPT.format(order.order_id),
    ]
    assert "our team will either complete the top-up or refund the full amount" in mail.outbox[0].body


def test_news_that_is_already_out_of_date_is_not_sent(sandbox_world):
    order = set_status(paid_order(sandbox_world), S.MANUAL_REVIEW)
    emails.on_order_transition(order.pk, S.REFUNDED)  # the order left REFUNDED before the listener ran
    assert mail.outbox == []


def test_a_failing_mail_server_never_fails_the_order_and_the_sweep_sends_later(
    sandbox_world, committed, settings, caplog
):
    settings.EMAIL_BACKEND = "pulse.tests.test_emails.BrokenBackend"
    with caplog.at_level(logging.WARNING, logger="pulse.services.emails"):
        order = committed(paid_order, sandbox_world)
    order.refresh_from_db()
    assert order.status == S.COMPLETED
    assert order.receipt_sent_at is None  # claim released: not recorded as sent
    assert any("receipt e-mail not sent (SMTPServerDisconnected" in r.getMessage() for r in caplog.records)
    assert all(CUSTOMER not in r.getMessage() for r in caplog.records)

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert emails.send_due_emails() == 1
    assert emails.send_due_emails() == 0
    assert [m.subject for m in mail.outbox] == [RECEIPT.format(order.order_id)]


def test_staff_can_resend_the_e_mail(sandbox_world, committed, staff_user):
    order = committed(paid_order, sandbox_world)
    staff_actions.resend_email(order, user=staff_user, note="customer lost it")
    assert [m.subject for m in mail.outbox] == [RECEIPT.format(order.order_id)] * 2


@pytest.mark.django_db(transaction=True)
def test_workers_sending_at_once_send_one_receipt(sandbox_world):
    skip_unless_shared_database()
    order = paid_order(sandbox_world)
    mail.outbox.clear()
    RenewalOrder.objects.filter(pk=order.pk).update(receipt_sent_at=None)

    results = run_together([lambda: emails.send_status_email(order.pk, S.COMPLETED) for _ in range(6)])

    assert not exceptions_in(results), results
    assert sorted(results) == [False] * 5 + [True]
    assert [m.subject for m in mail.outbox] == [RECEIPT.format(order.order_id)]
