"""`manage.py check --deploy` catches a misconfigured production (issue 11 items 3 and 6; pulse/checks.py).

A fully configured production is clean (esim_status_checker/tests/test_settings.py runs it in a fresh
interpreter). Here: from that clean configuration, one setting broken at a time must produce exactly one
check of ours, naming the setting in its message and the fix in its hint; and the environment the
review used (sandbox with DEBUG off, the shipped defaults) reports its problems through the real
`manage.py` in a fresh interpreter.
"""

from __future__ import annotations

import pytest
from django.core.checks import ERROR, WARNING, run_checks

from esim_status_checker.tests.test_settings import FULL_PRODUCTION_ENV, PRODUCTION_ENV, run_manage

# The configuration of FULL_PRODUCTION_ENV as settings (the test settings differ: sandbox, no Redis).
PRODUCTION_SETTINGS = {
    "DEBUG": False,
    "ESIM_SANDBOX": False,
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_SECRET_KEY": "sk_live_fake_for_tests",
    "STRIPE_WEBHOOK_SECRET": "whsec_fake_for_tests",
    "STRIPE_LIVE_MODE": True,
    "REDIS_URL": "redis://cache.internal:6379/0",
    "FRONTEND_URL": "https://shop.example.com",
    "CORS_ALLOWED_ORIGINS": ["https://shop.example.com"],
    "PUBLIC_BASE_URL": "https://api.shop.example.com",
    "AIRHUB_USERNAME": "fake-airhub-user",
    "AIRHUB_PASSWORD": "fake-airhub-password",
    "ESIMCARD_EMAIL": "",
    "ESIMCARD_PASSWORD": "",
    "TRAVELROAM_API_KEY": "",
    "TRAVELROAM_CLIENT_SECRET": "",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "DEFAULT_FROM_EMAIL": "eSIM Support <support@shop.example.com>",
    "STAFF_ALERT_EMAILS": ["ops@shop.example.com"],
}


@pytest.fixture
def production(settings):
    for name, value in PRODUCTION_SETTINGS.items():
        setattr(settings, name, value)
    return settings


def our_checks(*, deploy: bool = True) -> list:
    return [m for m in run_checks(include_deployment_checks=deploy) if m.id.startswith("pulse.")]


def test_a_fully_configured_production_has_no_finding(production):
    assert our_checks() == []


MISCONFIGURATIONS = [
    # (what the review found, settings changed, id, level, words of the message, words of the hint)
    (
        "sandbox payments with DEBUG off",
        {"PAYMENT_GATEWAY": "sandbox", "SANDBOX_PAYMENTS_ALLOWED": True},
        "pulse.W001",
        WARNING,
        "PAYMENT_GATEWAY=sandbox: checkouts take no money",
        "Set PAYMENT_GATEWAY=stripe",
    ),
    (
        "sandbox providers with DEBUG off",
        {"ESIM_SANDBOX": True},
        "pulse.W002",
        WARNING,
        "ESIM_SANDBOX=true: every eSIM answer and top-up comes from the built-in simulators",
        "Set ESIM_SANDBOX=false",
    ),
    (
        "Stripe without its secret key",
        {"STRIPE_SECRET_KEY": ""},
        "pulse.E001",
        ERROR,
        "PAYMENT_GATEWAY=stripe without STRIPE_SECRET_KEY",
        "Set STRIPE_SECRET_KEY",
    ),
    (
        "Stripe without its webhook secret",
        {"STRIPE_WEBHOOK_SECRET": ""},
        "pulse.E002",
        ERROR,
        "PAYMENT_GATEWAY=stripe without STRIPE_WEBHOOK_SECRET: every Stripe webhook is refused",
        "Set STRIPE_WEBHOOK_SECRET",
    ),
    (
        "a live key with STRIPE_LIVE_MODE off",
        {"STRIPE_LIVE_MODE": False},
        "pulse.E004",
        ERROR,
        "STRIPE_SECRET_KEY is a live key but STRIPE_LIVE_MODE is false",
        "STRIPE_LIVE_MODE=true",
    ),
    (
        "CORS left at the development origin",
        {"CORS_ALLOWED_ORIGINS": ["https://shop.example.com", "http://localhost:3000"]},
        "pulse.W003",
        WARNING,
        "CORS_ALLOWED_ORIGINS allows http://localhost:3000",
        "Set CORS_ALLOWED_ORIGINS",
    ),
    (
        "CORS with a plain-http origin",
        {"CORS_ALLOWED_ORIGINS": ["http://shop.example.com"]},
        "pulse.W003",
        WARNING,
        "CORS_ALLOWED_ORIGINS allows http://shop.example.com",
        "https origin",
    ),
    (
        "FRONTEND_URL left at the development default",
        {"FRONTEND_URL": "http://localhost:3000"},
        "pulse.W004",
        WARNING,
        "FRONTEND_URL is 'http://localhost:3000'",
        "Set FRONTEND_URL",
    ),
    (
        "FRONTEND_URL on a private address",
        {"FRONTEND_URL": "https://10.0.0.5"},
        "pulse.W004",
        WARNING,
        "FRONTEND_URL is 'https://10.0.0.5'",
        "Set FRONTEND_URL",
    ),
    (
        "PUBLIC_BASE_URL left at a localhost default",
        {"PUBLIC_BASE_URL": "http://localhost:8000"},
        "pulse.W005",
        WARNING,
        "PUBLIC_BASE_URL is 'http://localhost:8000'",
        "Set PUBLIC_BASE_URL",
    ),
    (
        "PUBLIC_BASE_URL empty",
        {"PUBLIC_BASE_URL": ""},
        "pulse.W005",
        WARNING,
        "PUBLIC_BASE_URL is ''",
        "Set PUBLIC_BASE_URL",
    ),
    (
        "no Redis",
        {"REDIS_URL": ""},
        "pulse.W006",
        WARNING,
        "REDIS_URL is not set: rate limits, locks, circuit breakers and provider tokens live in each process",
        "Set REDIS_URL",
    ),
    (
        "no provider and no sandbox",
        {"AIRHUB_USERNAME": "", "AIRHUB_PASSWORD": ""},
        "pulse.E003",
        ERROR,
        "No provider is configured and ESIM_SANDBOX is off",
        "Set the credentials of at least one provider",
    ),
    (
        "half a provider's credentials",
        {"TRAVELROAM_API_KEY": "fake-travelroam-key"},
        "pulse.W007",
        WARNING,
        "TravelRoam is disabled: TRAVELROAM_API_KEY is set but TRAVELROAM_CLIENT_SECRET is not",
        "Set TRAVELROAM_API_KEY and TRAVELROAM_CLIENT_SECRET",
    ),
    (
        "nobody told when a provider wallet runs dry",
        {"STAFF_ALERT_EMAILS": []},
        "pulse.W012",
        WARNING,
        "STAFF_ALERT_EMAILS is empty: nobody is e-mailed when a provider's wallet runs dry",
        "Set STAFF_ALERT_EMAILS",
    ),
    (
        "a staff alert address that is not one",
        {"STAFF_ALERT_EMAILS": ["ops@shop.example.com", "oncall"]},
        "pulse.E013",
        ERROR,
        "STAFF_ALERT_EMAILS holds 'oncall', which is not an e-mail address",
        "Set STAFF_ALERT_EMAILS to comma-separated addresses",
    ),
]


@pytest.mark.parametrize(
    ("changes", "check_id", "level", "message", "hint"),
    [case[1:] for case in MISCONFIGURATIONS],
    ids=[case[0] for case in MISCONFIGURATIONS],
)
def test_each_misconfiguration_is_reported_with_the_setting_to_fix(
    production, changes, check_id, level, message, hint
):
    for name, value in changes.items():
        setattr(production, name, value)

    [finding] = our_checks()

    assert (finding.id, finding.level) == (check_id, level)
    assert message in finding.msg
    assert hint in finding.hint


def test_deploy_checks_stay_quiet_outside_check_deploy(production):
    production.ESIM_SANDBOX = True
    production.REDIS_URL = ""
    assert our_checks(deploy=False) == []


def test_a_check_can_be_silenced_on_purpose(production):
    production.REDIS_URL = ""
    production.SILENCED_SYSTEM_CHECKS = ["pulse.W006"]
    assert [m for m in our_checks() if not m.is_silenced()] == []


# --- through manage.py, in a fresh interpreter (settings read from the environment) ------------------


def findings(result) -> set[str]:
    return {
        word.rstrip(":") for word in (result.stdout + result.stderr).split() if word.startswith("(pulse.")
    }


def test_the_reviewed_sandbox_setup_fails_check_deploy():
    """DEBUG=False, PAYMENT_GATEWAY=sandbox, SANDBOX_PAYMENTS_ALLOWED=true, ESIM_SANDBOX=true."""
    env = {
        **FULL_PRODUCTION_ENV,
        "PAYMENT_GATEWAY": "sandbox",
        "SANDBOX_PAYMENTS_ALLOWED": "true",
        "ESIM_SANDBOX": "true",
    }
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)

    assert result.returncode != 0
    assert findings(result) == {"(pulse.W001)", "(pulse.W002)"}
    assert "HINT: Set PAYMENT_GATEWAY=stripe" in result.stderr
    assert "HINT: Set ESIM_SANDBOX=false" in result.stderr


def test_the_shipped_defaults_in_production_fail_check_deploy_naming_each_setting():
    """Only what start-up insists on (key, hosts): Stripe keys, provider, Redis, URLs and sender missing."""
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)

    assert result.returncode != 0
    # At least these (PUBLIC_BASE_URL, where the settings define it, may add pulse.W005).
    assert findings(result) >= {
        "(pulse.E001)",
        "(pulse.E002)",
        "(pulse.E003)",
        "(pulse.W003)",
        "(pulse.W004)",
        "(pulse.W006)",
        "(pulse.W011)",
    }
    for setting in (
        "STRIPE_SECRET_KEY",
        "STRIPE_WEBHOOK_SECRET",
        "CORS_ALLOWED_ORIGINS",
        "FRONTEND_URL",
        "REDIS_URL",
    ):
        assert f"HINT: Set {setting}" in result.stderr


def test_silenced_checks_come_from_the_environment():
    # One machine without Redis: the cache per process (pulse.W006) and the file-system broker
    # (background.W001) are accepted on purpose.
    env = {**FULL_PRODUCTION_ENV, "REDIS_URL": "", "SILENCED_SYSTEM_CHECKS": "pulse.W006,background.W001"}
    result = run_manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (2 silenced)" in result.stdout
