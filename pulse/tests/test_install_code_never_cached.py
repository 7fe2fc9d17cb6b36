"""The install code is never cached (issue 17, docs/operations.md "eSIM support").

Against the sandbox AirHub (the provider whose client caches activation data): after status checks
no entry of the shared cache holds the activation code or its matching id (the public part, the
SM-DP+ address, may be cached: the status answer shows it), and every "Show install code" asks
AirHub again.
"""

from __future__ import annotations

import pickle

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches

from providers.airhub import AirHubClient
from providers.sandbox import DEMO_ICCIDS, reset_default_world
from pulse.services.install_code import show_install_code
from pulse.services.status import esim_status_check

pytestmark = pytest.mark.django_db

ICCID = DEMO_ICCIDS["airhub_active_spain"]
MATCHING_ID = "SBX00-DEMO0-SPAIN-00002"  # the secret half of its install code (providers/sandbox/demo.py)


@pytest.fixture
def activation_reads(settings, monkeypatch) -> list[str]:
    """The sandbox providers, an empty cache, and every GetActivationCode read by an AirHub client."""
    settings.ESIM_SANDBOX = True
    reset_default_world()
    cache.clear()
    reads: list[str] = []
    fetch = AirHubClient._fetch_activation

    def counted(self, order_id):
        reads.append(order_id)
        return fetch(self, order_id)

    monkeypatch.setattr(AirHubClient, "_fetch_activation", counted)
    yield reads
    reset_default_world()
    cache.clear()


def cached_text() -> str:
    """Every key and value of the local-memory cache the tests run with, unpickled, as text."""
    backend = caches["default"]
    assert hasattr(backend, "_cache"), "these tests scan a LocMemCache"
    return repr({key: pickle.loads(value) for key, value in backend._cache.items()})  # noqa: S301 - our own test cache


def test_a_status_check_leaves_no_activation_secret_in_any_cache(activation_reads):
    answer = esim_status_check(iccid=ICCID).answer()
    esim_status_check(iccid=ICCID, use_cache=False)

    assert answer["api_provider"] == "AIRHUB"
    assert answer["activation_code"] not in ("", None, "N/A")  # the SM-DP+ address, public
    assert activation_reads  # the activation data was read, so there was something to cache
    text = cached_text()
    assert answer["activation_code"] in text  # the public part is cached ...
    assert MATCHING_ID not in text  # ... never the matching id
    assert "LPA:1$" not in text  # nor the activation code


def test_every_install_code_asks_airhub_and_is_not_cached(activation_reads):
    staff = get_user_model().objects.create_user("helper", "helper@example.com", "pw-for-tests-only")
    esim_status_check(iccid=ICCID)  # remembers where the eSIM is and caches the public part
    before = len(activation_reads)

    first = show_install_code(ICCID, user=staff)
    second = show_install_code(ICCID, user=staff)

    assert first.provider == second.provider == "airhub"
    assert first.lpa.endswith(f"${MATCHING_ID}")
    assert len(activation_reads) == before + 2  # each showing read AirHub, none the cache
    assert MATCHING_ID not in cached_text()
