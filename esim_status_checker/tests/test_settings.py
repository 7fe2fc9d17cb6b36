"""Start-up behaviour of the settings module, run in fresh interpreters (settings load once)."""

import re
from pathlib import Path

import pytest

from esim_status_checker.tests.fresh_process import PRODUCTION_ENV, run_manage

ROOT = Path(__file__).resolve().parents[2]


# Everything a real deployment sets (README "Running in production"): `check --deploy` is clean.
FULL_PRODUCTION_ENV = {
    **PRODUCTION_ENV,
    "ALLOWED_HOSTS": "api.shop.example.com",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "FRONTEND_URL": "https://shop.example.com",
    "CORS_ALLOWED_ORIGINS": "https://shop.example.com",
    "PUBLIC_BASE_URL": "https://api.shop.example.com",
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_fake_for_tests",
    "STRIPE_WEBHOOK_SECRET": "whsec_fake_for_tests",
    "STRIPE_LIVE_MODE": "true",
    "AIRHUB_USERNAME": "fake-airhub-user",
    "AIRHUB_PASSWORD": "fake-airhub-password",
    "ESIMCARD_EMAIL": "reseller@shop.example.com",
    "ESIMCARD_PASSWORD": "fake-esimcard-password",
    "TRAVELROAM_API_KEY": "fake-travelroam-key",
    "TRAVELROAM_CLIENT_SECRET": "fake-travelroam-secret",
    "EMAIL_HOST": "smtp.shop.example.com",
    "EMAIL_PORT": "587",
    "EMAIL_HOST_USER": "mailer@shop.example.com",
    "EMAIL_HOST_PASSWORD": "fake-smtp-password",
    "DEFAULT_FROM_EMAIL": "eSIM Support <support@shop.example.com>",
    "STAFF_ALERT_EMAILS": "ops@shop.example.com",
    "SECURE_PROXY_SSL_HEADER": "true",
    "TRUSTED_PROXY_COUNT": "1",
}


def test_production_without_secret_key_fails_fast_with_a_clear_message():
    env = {**PRODUCTION_ENV, "SECRET_KEY": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert (
        "SECRET_KEY must be set to a random value of 32 or more characters when DEBUG=False" in result.stderr
    )


def test_production_refuses_the_development_key():
    env = {**PRODUCTION_ENV, "SECRET_KEY": "django-insecure-development-only-key-never-use-in-production"}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_without_allowed_hosts_fails_fast():
    env = {**PRODUCTION_ENV, "ALLOWED_HOSTS": ""}
    result = run_manage("check", env=env)
    assert result.returncode != 0
    assert "ALLOWED_HOSTS must list the host names" in result.stderr


def test_debug_runs_with_the_development_key_and_sandbox():
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.ESIM_SANDBOX, settings.PAYMENT_GATEWAY)",
        env={
            "DEBUG": "true",
            "ESIM_READ_DOTENV": "false",
            "LOG_FILE": "",
            "DATABASE_URL": "sqlite:///:memory:",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "sandbox"]


def test_sandbox_is_never_silently_on_in_production():
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.ESIM_SANDBOX, settings.PAYMENT_GATEWAY)",
        env=PRODUCTION_ENV,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "stripe"]


def test_check_deploy_is_clean_for_a_fully_configured_production():
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=FULL_PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)" in result.stdout


def test_empty_values_from_env_example_keep_secure_defaults():
    env = {**PRODUCTION_ENV, "SECURE_SSL_REDIRECT": "", "SESSION_COOKIE_SECURE": ""}
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings; print(settings.SECURE_SSL_REDIRECT, settings.SESSION_COOKIE_SECURE)",
        env=env,
    )
    assert result.stdout.split() == ["True", "True"]


def test_every_setting_read_from_the_environment_is_listed_in_env_example():
    sources = "\n".join(p.read_text() for p in (ROOT / "esim_status_checker" / "settings").glob("*.py"))
    read = set(re.findall(r"env_\w+\(\s*\"([A-Z0-9_]+)\"", sources))
    listed = set(re.findall(r"(?m)^([A-Z0-9_]+)=", (ROOT / ".env.example").read_text()))
    internal = {"ESIM_READ_DOTENV"}  # switch used by the test settings, not a user setting
    assert read - internal - listed == set()


@pytest.mark.parametrize("bad", ["maybe", "2"])
def test_a_bad_boolean_names_the_variable(bad):
    result = run_manage("check", env={**PRODUCTION_ENV, "RENEWAL_AUTO_REFUND": bad})
    assert result.returncode != 0
    assert "RENEWAL_AUTO_REFUND must be true or false" in result.stderr


def test_a_fresh_env_example_gives_a_working_development_setup(tmp_path):
    """`make run` copies .env.example to .env: blank values there must mean "use the default"."""
    env = {"ESIM_READ_DOTENV": "false", "DATABASE_URL": "sqlite:///:memory:"}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            env.setdefault(name, value)
    env["DATABASE_URL"] = "sqlite:///:memory:"
    env["LOG_FILE"] = ""
    result = run_manage(
        "shell",
        "-v",
        "0",
        "-c",
        "from django.conf import settings as s; print(s.EMAIL_BACKEND, s.ESIM_SANDBOX, s.PAYMENT_GATEWAY, "
        "s.PROVIDER_CONNECT_TIMEOUT, 'localhost' in s.ALLOWED_HOSTS, s.THROTTLE_RATES['check'])",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.core.mail.backends.console.EmailBackend",
        "True",
        "sandbox",
        "3.05",
        "True",
        "30/min",
    ]
