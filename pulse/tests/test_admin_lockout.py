"""Admin login brute force (issue 11 item 8): django-axes locks a username+IP pair out after
AXES_FAILURE_LIMIT failures for AXES_COOLOFF_MINUTES; the client IP follows the API's trusted-proxy rule.

Logins go through the real admin login form (Django's test client with CSRF checks on), as a browser
or a password-guessing script would post it.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.utils import timezone

from pulse.client_ip import client_ip

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"
PASSWORD = "right-pw-for-tests-only"
CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture(autouse=True)
def _staff(db):
    get_user_model().objects.create_superuser("ops", "ops@example.com", PASSWORD)
    get_user_model().objects.create_superuser("other", "other@example.com", PASSWORD)


def log_in(client: Client, username: str, password: str, **headers: str):
    """GET the login page (for its CSRF token), then POST the form; the POST's response."""
    page = client.get(LOGIN, **headers)
    token = CSRF_INPUT.search(page.content.decode()).group(1)
    return client.post(
        LOGIN,
        {"username": username, "password": password, "csrfmiddlewaretoken": token, "next": "/admin/"},
        **headers,
    )


def logged_in(client: Client) -> bool:
    return client.get("/admin/").status_code == 200


def browser(ip: str = "198.51.100.7") -> Client:
    return Client(enforce_csrf_checks=True, REMOTE_ADDR=ip)


def fail(client: Client, times: int, username: str = "ops", **headers: str) -> None:
    for _ in range(times):
        response = log_in(client, username, "wrong-guess", **headers)
        assert response.status_code in (200, 429)  # the form again, or the lockout page
        assert not logged_in(client)


def test_fifteen_wrong_passwords_then_the_right_one_is_refused():
    guesser = browser()
    fail(guesser, 15)

    response = log_in(guesser, "ops", PASSWORD)

    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "After 10 failed attempts" in response.content.decode()
    assert "0:15:00" in response.content.decode()
    assert not logged_in(guesser)


def test_the_lock_starts_at_the_tenth_failure_not_before():
    person = browser()
    fail(person, 9)
    assert log_in(person, "ops", PASSWORD).status_code == 302  # nine typos: still let in
    assert logged_in(person)

    guesser = browser()
    fail(guesser, 10)  # the success above reset the count; ten new failures lock
    assert log_in(guesser, "ops", PASSWORD).status_code == 429


def test_the_lock_is_per_username_and_ip():
    fail(browser(), 10)

    assert log_in(browser(), "ops", PASSWORD).status_code == 429  # same pair: locked
    assert log_in(browser(), "other", PASSWORD).status_code == 302  # another user from that IP
    assert log_in(browser("203.0.113.50"), "ops", PASSWORD).status_code == 302  # the user elsewhere


def test_a_spoofed_x_forwarded_for_does_not_escape_the_lock_without_trusted_proxies():
    guesser = browser()
    for n in range(12):
        log_in(guesser, "ops", "wrong-guess", HTTP_X_FORWARDED_FOR=f"10.0.{n}.1")

    response = log_in(guesser, "ops", PASSWORD, HTTP_X_FORWARDED_FOR="10.99.99.99")

    assert response.status_code == 429
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


def test_behind_one_proxy_only_the_address_it_appended_counts(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = browser("10.0.0.2")  # every request arrives from the proxy
    for n in range(12):
        # The client writes whatever it likes on the left; the proxy appends the real address.
        log_in(proxy, "ops", "wrong-guess", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.9")

    spoofed = log_in(proxy, "ops", PASSWORD, HTTP_X_FORWARDED_FOR="8.8.8.8, 203.0.113.9")
    other_client = log_in(browser("10.0.0.2"), "ops", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.10")

    assert spoofed.status_code == 429
    assert other_client.status_code == 302
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.9"}


def test_after_the_cool_off_the_right_password_works_again():
    guesser = browser()
    fail(guesser, 10)
    assert log_in(guesser, "ops", PASSWORD).status_code == 429

    # Fifteen minutes and a second pass (axes compares each attempt's time with now - cool-off).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=15, seconds=1))

    assert log_in(guesser, "ops", PASSWORD).status_code == 302
    assert logged_in(guesser)


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("axes_reset", []),
        ("axes_reset_username", ["ops"]),
        ("axes_reset_ip_username", ["198.51.100.7", "ops"]),
    ],
)
def test_staff_unlock_with_a_management_command(command, args):
    guesser = browser()
    fail(guesser, 10)
    assert log_in(guesser, "ops", PASSWORD).status_code == 429

    call_command(command, *args, stdout=None)

    assert log_in(guesser, "ops", PASSWORD).status_code == 302


def test_staff_see_and_delete_lockouts_in_the_admin():
    fail(browser(), 10)
    colleague = browser("203.0.113.77")
    assert log_in(colleague, "other", PASSWORD).status_code == 302

    listing = colleague.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200
    assert "198.51.100.7" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="ops")
    token = CSRF_INPUT.search(
        colleague.get(f"/admin/axes/accessattempt/{attempt.pk}/delete/").content.decode()
    )
    deleted = colleague.post(
        f"/admin/axes/accessattempt/{attempt.pk}/delete/",
        {"post": "yes", "csrfmiddlewaretoken": token.group(1)},
    )

    assert deleted.status_code == 302
    assert log_in(browser(), "ops", PASSWORD).status_code == 302


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "expected"),
    [
        (0, "198.51.100.7", "", "198.51.100.7"),
        (0, "198.51.100.7", "1.2.3.4", "198.51.100.7"),
        (1, "10.0.0.2", "1.2.3.4, 203.0.113.9", "203.0.113.9"),
        (2, "10.0.0.3", "1.2.3.4, 203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "10.0.0.3", "203.0.113.9", "10.0.0.3"),  # fewer entries than proxies: not through them
        (1, "10.0.0.2", "", "10.0.0.2"),
    ],
)
def test_client_ip_follows_the_trusted_proxy_rule(settings, proxies, remote, forwarded, expected):
    settings.TRUSTED_PROXY_COUNT = proxies
    headers = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    request = RequestFactory().get("/", REMOTE_ADDR=remote, **headers)
    assert client_ip(request) == expected
