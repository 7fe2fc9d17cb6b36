"""E-mail configuration and delivery (issue 11 item 10): every standard Django EMAIL_* setting comes
from the environment; real e-mails go out over SMTP (a local aiosmtpd sink) and through the file backend;
a failing e-mail is logged with its cause and shown in health and the admin once it fails for an hour.

The settings are read once per process, so what depends on the environment runs `manage.py` in a fresh
interpreter (as esim_status_checker/tests/test_settings.py does).
"""

from __future__ import annotations

import logging
import re
import smtplib
import threading
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from django.conf import global_settings
from django.core import mail
from django.core.checks import ERROR, run_checks
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone
from rest_framework.test import APIClient

from esim_status_checker.tests.test_settings import PRODUCTION_ENV, ROOT, run_manage
from pulse.models import RenewalOrder
from pulse.services import emails, staff_actions
from pulse.tests.staff_helpers import (
    CUSTOMER,
    S,
    paid_order,
    sandbox_world_fixture,  # noqa: F401
    staff_client_fixture,  # noqa: F401
    staff_user_fixture,  # noqa: F401
)
from tests.reliability.servers import free_port

pytestmark = [
    pytest.mark.django_db,
    # The sink accepts a login without TLS on purpose (127.0.0.1 only, no certificate to hand).
    pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning"),
]

FILE_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
SMTP_USER = "mailer@shop.example.com"
SMTP_PASSWORD = "fake-smtp-password-for-tests"
RECEIPT = "Your eSIM top-up is done (order {})"


# --- a local SMTP server ---------------------------------------------------------------------------


class Sink:
    """aiosmtpd handler: keeps every message it accepts, and who logged in to send it."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.logins: list[tuple[bytes, bytes]] = []
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        self.received.set()
        return "250 Message accepted for delivery"

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        self.logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == SMTP_PASSWORD.encode())


@pytest.fixture
def smtp_sink():
    sink = Sink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=sink.authenticate,
        auth_required=True,
        auth_require_tls=False,  # plain SMTP on 127.0.0.1 only; TLS needs a certificate
    )
    controller.start()
    try:
        yield sink, controller.port
    finally:
        controller.stop()


def smtp_env(port: int) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "EMAIL_HOST_USER": SMTP_USER,
        "EMAIL_HOST_PASSWORD": SMTP_PASSWORD,
        "EMAIL_USE_TLS": "false",
        "EMAIL_TIMEOUT": "5",
        "DEFAULT_FROM_EMAIL": "eSIM Support <support@shop.example.com>",
    }


def show_settings(env: dict[str, str], *names: str):
    code = "from django.conf import settings; " + "; ".join(f"print(repr(settings.{name}))" for name in names)
    return run_manage("shell", "-v", "0", "-c", code, env={**PRODUCTION_ENV, **env})


# --- every EMAIL_* setting from the environment -----------------------------------------------------


def test_every_standard_django_email_setting_is_read_from_the_environment():
    sources = (ROOT / "esim_status_checker" / "settings" / "base.py").read_text()
    read = set(re.findall(r"env_\w+\(\s*\"([A-Z0-9_]+)\"", sources))
    django_names = {name for name in dir(global_settings) if name.startswith("EMAIL_")}
    # EMAIL_FILE_PATH has no global default (only the file backend reads it), the two senders no prefix.
    expected = django_names | {"EMAIL_FILE_PATH", "DEFAULT_FROM_EMAIL", "SERVER_EMAIL"}
    assert expected - read == set()
    assert len(expected) == 15


def test_the_email_settings_take_their_values_from_the_environment(tmp_path):
    env = {
        "EMAIL_BACKEND": FILE_BACKEND,
        "EMAIL_HOST": "smtp.shop.example.com",
        "EMAIL_PORT": "2525",
        "EMAIL_HOST_USER": SMTP_USER,
        "EMAIL_HOST_PASSWORD": SMTP_PASSWORD,
        "EMAIL_USE_TLS": "false",
        "EMAIL_USE_SSL": "true",
        "EMAIL_SSL_CERTFILE": "/etc/ssl/client.pem",
        "EMAIL_SSL_KEYFILE": "/etc/ssl/client.key",
        "EMAIL_TIMEOUT": "7.5",
        "EMAIL_FILE_PATH": str(tmp_path),
        "EMAIL_SUBJECT_PREFIX": "[eSIM prod]",
        "EMAIL_USE_LOCALTIME": "true",
        "DEFAULT_FROM_EMAIL": "eSIM Support <support@shop.example.com>",
        "SERVER_EMAIL": "errors@shop.example.com",
    }
    result = show_settings(env, *env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        repr(FILE_BACKEND),
        "'smtp.shop.example.com'",
        "2525",
        repr(SMTP_USER),
        repr(SMTP_PASSWORD),
        "False",
        "True",
        "'/etc/ssl/client.pem'",
        "'/etc/ssl/client.key'",
        "7.5",
        repr(str(tmp_path)),
        "'[eSIM prod] '",
        "True",
        "'eSIM Support <support@shop.example.com>'",
        "'errors@shop.example.com'",
    ]


def test_defaults_follow_the_tls_mode_and_keep_no_certificate():
    names = (
        "EMAIL_USE_TLS",
        "EMAIL_USE_SSL",
        "EMAIL_PORT",
        "EMAIL_SSL_CERTFILE",
        "EMAIL_FILE_PATH",
        "SERVER_EMAIL",
    )
    starttls = show_settings({}, *names)
    implicit = show_settings({"EMAIL_USE_SSL": "true"}, *names)
    assert starttls.stdout.splitlines() == [
        "True",
        "False",
        "587",
        "None",
        "None",
        repr("eSIM Support <noreply@example.com>"),
    ]
    assert implicit.stdout.splitlines()[:4] == ["False", "True", "465", "None"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "EMAIL_USE_TLS and EMAIL_USE_SSL are both true"),
        ({"EMAIL_TIMEOUT": "0"}, "EMAIL_TIMEOUT must be more than 0 seconds, got 0"),
        ({"EMAIL_PORT": "0"}, "EMAIL_PORT must be a port number (1-65535), got 0"),
    ],
)
def test_impossible_email_settings_stop_the_start_with_the_fix(env, message):
    result = run_manage("check", env={**PRODUCTION_ENV, **env})
    assert result.returncode != 0
    assert message in result.stderr


def test_the_file_backend_without_a_directory_is_a_check_error(settings):
    settings.EMAIL_BACKEND = FILE_BACKEND
    settings.EMAIL_FILE_PATH = None
    [finding] = [m for m in run_checks() if m.id.startswith("pulse.")]
    assert (finding.id, finding.level) == ("pulse.E011", ERROR)
    assert "EMAIL_FILE_PATH is not set: every e-mail fails" in finding.msg
    assert "Set EMAIL_FILE_PATH" in finding.hint


def test_a_missing_client_certificate_is_a_check_error(settings, tmp_path):
    settings.EMAIL_SSL_CERTFILE = str(tmp_path / "missing.pem")
    [finding] = [m for m in run_checks() if m.id.startswith("pulse.")]
    assert finding.id == "pulse.E012"
    assert f"EMAIL_SSL_CERTFILE is '{tmp_path / 'missing.pem'}', which is not a readable file" in finding.msg


@pytest.mark.parametrize(
    ("backend", "says"),
    [
        ("django.core.mail.backends.console.EmailBackend", "prints e-mails to the console"),
        ("django.core.mail.backends.dummy.EmailBackend", "throws e-mails away"),
    ],
)
def test_check_deploy_warns_about_a_backend_that_delivers_nothing(settings, backend, says):
    settings.EMAIL_BACKEND = backend
    settings.DEFAULT_FROM_EMAIL = "eSIM Support <support@shop.example.com>"
    settings.STAFF_ALERT_EMAILS = ["ops@shop.example.com"]  # pulse.W012 is another story
    findings = {m.id: m for m in run_checks(include_deployment_checks=True) if m.id.startswith("pulse.W01")}
    assert set(findings) == {"pulse.W010"}
    assert f"EMAIL_BACKEND {says}: customers get no receipt" in findings["pulse.W010"].msg


def test_check_deploy_warns_about_the_example_sender(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.STAFF_ALERT_EMAILS = ["ops@shop.example.com"]  # pulse.W012 is another story
    findings = {m.id: m for m in run_checks(include_deployment_checks=True) if m.id.startswith("pulse.W01")}
    assert set(findings) == {"pulse.W011"}
    assert "DEFAULT_FROM_EMAIL is 'eSIM Support <noreply@example.com>'" in findings["pulse.W011"].msg


# --- real delivery ----------------------------------------------------------------------------------


def test_sendtestemail_goes_over_smtp_with_the_environment_settings(smtp_sink):
    sink, port = smtp_sink

    result = run_manage("sendtestemail", "traveller@example.com", env={**PRODUCTION_ENV, **smtp_env(port)})

    assert result.returncode == 0, result.stderr
    assert sink.received.wait(10)
    [(sender, recipients, content)] = sink.messages
    assert (sender, recipients) == ("support@shop.example.com", ["traveller@example.com"])
    assert "Test email from" in message_from_bytes(content, policy=policy.default)["Subject"]
    assert sink.logins == [(SMTP_USER.encode(), SMTP_PASSWORD.encode())]


def test_a_receipt_goes_over_smtp_to_the_customer(sandbox_world, settings, smtp_sink):
    sink, port = smtp_sink
    for name, value in smtp_env(port).items():
        setattr(settings, name, int(value) if name in ("EMAIL_PORT", "EMAIL_TIMEOUT") else value)
    settings.EMAIL_USE_TLS = False
    order = paid_order(sandbox_world)

    assert emails.send_status_email(order.pk, S.COMPLETED) is True

    assert sink.received.wait(10)
    [(_sender, recipients, content)] = sink.messages
    message = message_from_bytes(content, policy=policy.default)
    assert recipients == [CUSTOMER]
    assert message["Subject"] == RECEIPT.format(order.order_id)
    assert message["From"] == "eSIM Support <support@shop.example.com>"
    plain = message.get_body(("plain",)).get_content()
    assert order.order_id in plain
    assert "$1.60 (USD)" in plain
    assert message.get_body(("html",)) is not None


def test_sendtestemail_writes_a_file_with_the_file_backend(tmp_path):
    outbox = tmp_path / "mail"
    env = {"EMAIL_BACKEND": FILE_BACKEND, "EMAIL_FILE_PATH": str(outbox)}

    result = run_manage("sendtestemail", "traveller@example.com", env={**PRODUCTION_ENV, **env})

    assert result.returncode == 0, result.stderr
    [written] = list(outbox.iterdir())
    assert "To: traveller@example.com" in written.read_text()


def test_a_receipt_is_written_by_the_file_backend(sandbox_world, settings, tmp_path):
    settings.EMAIL_BACKEND = FILE_BACKEND
    settings.EMAIL_FILE_PATH = str(tmp_path)
    order = paid_order(sandbox_world)

    assert emails.send_status_email(order.pk, S.COMPLETED) is True

    [written] = list(Path(tmp_path).iterdir())
    assert f"Subject: {RECEIPT.format(order.order_id)}" in written.read_text()
    order.refresh_from_db()
    assert order.receipt_sent_at is not None


# --- failures: the cause in the log, the order, health and the admin ---------------------------------


class RefusingBackend(BaseEmailBackend):
    """A mail server that refuses the recipient, quoting the address (as real servers do)."""

    def send_messages(self, email_messages):
        address = email_messages[0].to[0]
        raise smtplib.SMTPRecipientsRefused(
            {address: (550, f"5.1.1 <{address}>: mailbox unavailable".encode())}
        )


def test_the_file_backend_without_a_directory_logs_the_cause_and_keeps_the_e_mail_due(
    sandbox_world, settings, caplog
):
    settings.EMAIL_BACKEND = FILE_BACKEND
    settings.EMAIL_FILE_PATH = None
    order = paid_order(sandbox_world)

    with caplog.at_level(logging.WARNING, logger="pulse.services.emails"):
        assert emails.send_status_email(order.pk, S.COMPLETED) is False

    [line] = [r.getMessage() for r in caplog.records if "not sent" in r.getMessage()]
    assert line == (
        f"order {order.order_id}: receipt e-mail not sent (TypeError: expected str, bytes or os.PathLike "
        "object, not NoneType); will retry"
    )
    order.refresh_from_db()
    assert order.receipt_sent_at is None
    assert order.email_error == "TypeError: expected str, bytes or os.PathLike object, not NoneType"
    assert order.email_failing_since is not None


def test_the_cause_never_shows_the_customer_address_or_the_smtp_password(sandbox_world, settings, caplog):
    settings.EMAIL_BACKEND = "pulse.tests.test_email_settings.RefusingBackend"
    settings.EMAIL_HOST_PASSWORD = "fake-pw-quoted-by-a-server"
    order = paid_order(sandbox_world)

    with caplog.at_level(logging.WARNING, logger="pulse.services.emails"):
        emails.send_status_email(order.pk, S.COMPLETED)

    order.refresh_from_db()
    assert order.email_error.startswith("SMTPRecipientsRefused: {'<customer>': (550, b'5.1.1 <<customer>>")
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert "SMTPRecipientsRefused" in logged
    assert CUSTOMER not in logged
    assert CUSTOMER not in order.email_error


def test_failing_for_over_an_hour_shows_in_health_and_the_admin_until_sent(
    sandbox_world, settings, staff_client, staff_user
):
    settings.EMAIL_BACKEND = "pulse.tests.test_email_settings.RefusingBackend"
    order = paid_order(sandbox_world)
    emails.send_status_email(order.pk, S.COMPLETED)  # fails now; the sweep retries later
    other = paid_order(sandbox_world)
    emails.send_status_email(other.pk, S.COMPLETED)
    assert emails.send_due_emails() == 0  # still failing: the first failure time is kept
    live_mode(settings)  # health must not be degraded for being in sandbox

    # Within the hour: a passing failure, not yet a problem.
    assert health()["status"] == "healthy"
    assert health()["emails"] == {"overdue": 0, "failing_since": None}

    first_failure = timezone.now() - timedelta(minutes=61)
    RenewalOrder.objects.filter(pk=order.pk).update(email_failing_since=first_failure)

    body = health()
    assert body["status"] == "degraded"
    assert body["emails"] == {"overdue": 1, "failing_since": first_failure.isoformat().replace("+00:00", "Z")}
    listing = staff_client.get("/admin/pulse/renewalorder/", {"attention": "email_overdue"})
    assert "Customer e-mail failing over 1 hour (1)" in listing.content.decode()
    assert list(listing.context["cl"].result_list) == [order]
    page = staff_client.get(f"/admin/pulse/renewalorder/{order.pk}/change/").content.decode()
    assert "SMTPRecipientsRefused" in page

    # Staff fix the mail server and resend: no longer overdue, the cause is cleared.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    staff_actions.resend_email(RenewalOrder.objects.get(pk=order.pk), user=staff_user, note="server fixed")
    order.refresh_from_db()
    assert (order.email_failing_since, order.email_error) == (None, "")
    assert [m.subject for m in mail.outbox] == [RECEIPT.format(order.order_id)]
    assert health()["emails"] == {"overdue": 0, "failing_since": None}
    assert health()["status"] == "healthy"


def test_an_order_without_an_address_or_already_sent_is_never_overdue(sandbox_world, settings):
    settings.EMAIL_BACKEND = "pulse.tests.test_email_settings.RefusingBackend"
    order = paid_order(sandbox_world)
    emails.send_status_email(order.pk, S.COMPLETED)
    long_ago = timezone.now() - timedelta(hours=5)
    RenewalOrder.objects.filter(pk=order.pk).update(email_failing_since=long_ago)
    assert emails.overdue_emails() == (1, long_ago)

    RenewalOrder.objects.filter(pk=order.pk).update(customer_email="")  # staff removed the bad address
    assert emails.overdue_emails() == (0, None)
    RenewalOrder.objects.filter(pk=order.pk).update(customer_email=CUSTOMER, receipt_sent_at=timezone.now())
    assert emails.overdue_emails() == (0, None)


def live_mode(settings) -> None:
    settings.ESIM_SANDBOX = False
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = "sk_test_fake"


def health() -> dict:
    response = APIClient().get("/api/esim/health/")
    assert response.status_code == 200
    return response.json()
