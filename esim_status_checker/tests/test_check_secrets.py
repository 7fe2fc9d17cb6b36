"""The CI credential scan catches real-looking secrets and lets obvious fakes through."""

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "check_secrets", Path(__file__).resolve().parents[2] / "scripts" / "check_secrets.py"
)
check_secrets = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(check_secrets)

# Built at run time so this file itself does not contain the patterns it tests.
LIVE_KEY = "sk_" + "live_" + "4eC39HqLyjWDarjtT1zdp7dc"
LONG_TEST_KEY = "sk_" + "test_" + "4eC39HqLyjWDarjtT1zdp7dcQQ"
PRIVATE_KEY = "-----BEGIN " + "RSA PRIVATE KEY-----"


@pytest.mark.parametrize(
    "line",
    [
        f'stripe_key = "{LIVE_KEY}"',
        f"STRIPE_SECRET_KEY={LONG_TEST_KEY}",
        PRIVATE_KEY,
        'password = "Hunter2Hunter2"',  # secret-scan: allow (scanner test input)
        'headers = {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9abcdefghijkl"}',  # secret-scan: allow (scanner test input)
        'client_secret: "9f8e7d6c5b4a39281706"',  # secret-scan: allow (scanner test input)
    ],
)
def test_credential_like_lines_are_flagged(line):
    assert check_secrets.scan_text(line, config_style=True)


@pytest.mark.parametrize(
    "line",
    [
        'password = "sandbox-not-a-secret"',
        'api_key = "sk_test_fake"',
        "AIRHUB_PASSWORD=",
        'token = "<TOKEN>"',
        'password = "Hunter2Hunter2"  # secret-scan: allow (documented example)',
    ],
)
def test_fakes_and_reads_from_the_environment_pass(line):
    assert check_secrets.scan_text(line, config_style=True) == []


def test_env_style_lines_in_python_are_not_flagged():
    assert check_secrets.scan_text('AIRHUB_PASSWORD = env_str("AIRHUB_PASSWORD")') == []


def test_the_repository_is_clean():
    assert check_secrets.main() == 0
