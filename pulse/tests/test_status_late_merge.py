"""A provider still searching never holds an answer another provider gave; its result is merged after.

These tests run with the production search grace (STATUS_SEARCH_GRACE_SECONDS=0 here: no wait at all),
a long deadline, and a provider that blocks until the test releases it, so an answer that waited for
the searching provider could not have come back before the release.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from providers.base import EsimRecord, StatusCode, Usage
from providers.errors import ProviderNotFound
from pulse.models import KnownEsim
from pulse.services.esim_routes import ROUTE_KEY
from pulse.services.status_format import with_ages

pytestmark = pytest.mark.django_db(transaction=True)

MERGED = "8944000000000000506"
PURCHASED = datetime(2026, 1, 20, 9, 30, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _answer_without_searchers(settings):
    settings.STATUS_SEARCH_GRACE_SECONDS = 0
    settings.STATUS_DEADLINE = 30
    settings.STATUS_CACHE_SECONDS = 60


def travelroam_record() -> EsimRecord:
    return EsimRecord(
        provider="travelroam",
        iccid=MERGED,
        reference=MERGED,
        status=StatusCode.ACTIVE,
        plan_name="eSIM, 1GB, 7 Days, Spain",
        usage=Usage(capacity_bytes=10**9, remaining_bytes=5 * 10**8),
    )


def airhub_record(as_of: datetime | None = None) -> EsimRecord:
    return EsimRecord(
        provider="airhub",
        iccid=MERGED,
        reference="1100042|2026-01-20",
        order_id="1100042",
        purchased_at=PURCHASED,
        apn="airhub.apn",
        as_of=as_of,
    )


class Gate:
    """A provider lookup that blocks until released, then answers with `outcome`."""

    def __init__(self, outcome) -> None:
        self.outcome = outcome
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, iccid: str) -> EsimRecord:
        self.entered.set()
        assert self.release.wait(20), "the test never released the provider"
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def check(iccid: str = MERGED) -> dict:
    response = APIClient().post("/api/esim/check/", {"iccid": iccid}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the late merge did not happen"
        time.sleep(0.02)


def test_a_searching_provider_does_not_hold_the_answer_and_its_fields_are_merged_after(fake_providers):
    fake_providers["travelroam"].records[MERGED] = travelroam_record()
    gate = Gate(airhub_record())
    fake_providers["airhub"].behaviour = gate
    try:
        first = check()
        assert gate.entered.is_set()
        assert not gate.release.is_set()
    finally:
        gate.release.set()

    # Answered while AirHub was still searching: never "not_found" for a provider that may hold it.
    assert first["sources"] == {"airhub": "error:pending", "esimcard": "not_found", "travelroam": "found"}
    assert first["source_details"]["airhub"] == {
        "outcome": "error:pending",
        "as_of": None,
        "age_seconds": None,
    }
    assert first["order_sim_id"] == "N/A"

    wait_for(lambda: KnownEsim.objects.filter(iccid=MERGED, provider="airhub").exists())
    wait_for(lambda: check()["sources"]["airhub"] == "found")
    merged = check()
    assert merged["cached"] is True
    assert merged["api_provider"] == "TRAVELROAM"  # the primary keeps its status and usage
    assert merged["data_remaining"] == "0.50 GB"
    assert merged["order_sim_id"] == "1100042"  # ...and AirHub's fields are no longer lost
    assert merged["purchase_date"] == "2026-01-20 09:30:00"
    assert merged["apn"] == "airhub.apn"


def test_a_late_proof_of_absence_is_remembered_and_replaces_pending(fake_providers):
    fake_providers["travelroam"].records[MERGED] = travelroam_record()
    gate = Gate(ProviderNotFound("esimcard", "not in the account"))
    fake_providers["esimcard"].behaviour = gate
    try:
        assert check()["sources"]["esimcard"] == "error:pending"
    finally:
        gate.release.set()

    wait_for(lambda: check()["sources"]["esimcard"] == "not_found")
    route = cache.get(ROUTE_KEY.format(iccid=MERGED))
    assert set(route["missing"]) == {"airhub", "esimcard"}
    cache.delete(f"status:v1:{MERGED}")
    check()
    assert len(fake_providers["esimcard"].calls) == 1  # remembered: not searched again


def test_a_reference_read_still_gets_the_grace_period(fake_providers, settings):
    """Known at both providers: a per-eSIM read (not a search) is waited for, so nothing is pending."""
    settings.STATUS_GRACE_SECONDS = 5
    fake_providers["travelroam"].records[MERGED] = travelroam_record()
    KnownEsim.objects.create(iccid=MERGED, provider="airhub", reference="1100042|2026-01-20")
    KnownEsim.objects.create(iccid=MERGED, provider="travelroam", reference=MERGED)
    gate = Gate(airhub_record())
    fake_providers["airhub"].behaviour = gate
    threading.Timer(0.3, gate.release.set).start()

    body = check()

    assert body["sources"]["airhub"] == "found"
    assert body["order_sim_id"] == "1100042"


def test_each_source_says_how_old_its_data_is(fake_providers):
    read_at = datetime.now(UTC) - timedelta(seconds=40)
    fake_providers["travelroam"].records[MERGED] = travelroam_record()
    fake_providers["airhub"].records[MERGED] = airhub_record(as_of=read_at)

    details = check()["source_details"]

    assert details["airhub"]["as_of"] == read_at.isoformat().replace("+00:00", "Z")
    assert 40 <= details["airhub"]["age_seconds"] <= 45
    assert details["travelroam"]["age_seconds"] <= 5
    assert details["esimcard"]["outcome"] == "not_found"
    assert details["esimcard"]["age_seconds"] <= 5
    cache.delete(f"status:v1:{MERGED}")
    again = check()["source_details"]["esimcard"]
    assert again["as_of"] == details["esimcard"]["as_of"]  # remembered: the time of the proof, not now


def test_a_cached_answer_ages_and_a_remembered_miss_keeps_the_time_of_its_proof():
    details = {
        "airhub": {"outcome": "found", "as_of": "2026-12-01T10:00:00Z"},
        "esimcard": {"outcome": "error:pending", "as_of": None},
    }
    aged = with_ages(details, now=datetime(2026, 12, 1, 10, 1, 30, tzinfo=UTC))
    assert aged == {
        "airhub": {"outcome": "found", "as_of": "2026-12-01T10:00:00Z", "age_seconds": 90},
        "esimcard": {"outcome": "error:pending", "as_of": None, "age_seconds": None},
    }
