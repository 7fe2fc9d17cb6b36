"""POST /api/esim/check/ with fake providers: whole bodies, errors, caching, ownership."""

from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from providers.base import BundleState, EsimRecord, StatusCode, Usage
from providers.errors import ProviderTimeout, ProviderUnavailable
from pulse.models import KnownEsim

pytestmark = pytest.mark.django_db

SEED = "8932042000010245583"
MERGED = "8944000000000000506"


def seed_record() -> EsimRecord:
    bundle = BundleState(
        name="esim_1GB_7D_TR_V2",
        description="eSIM, 1GB, 7 Days, Turkey, V2",
        state=StatusCode.EXPIRED,
        raw_state="expired",
        usage=Usage(capacity_bytes=10**9, remaining_bytes=0),
        assigned_at=datetime(2025, 11, 2, 1, 0, tzinfo=UTC),
        started_at=datetime(2025, 11, 2, 1, 1, tzinfo=UTC),
        expires_at=datetime(2025, 11, 9, 1, 1, tzinfo=UTC),
        duration_days=7,
    )
    return EsimRecord(
        provider="travelroam",
        iccid=SEED,
        reference=SEED,
        status=StatusCode.EXPIRED,
        profile_status="Installed",
        plan_name="eSIM, 1GB, 7 Days, Turkey, V2",
        plan_code="esim_1GB_7D_TR_V2",
        usage=Usage(capacity_bytes=10**9, remaining_bytes=0),
        bundles=(bundle,),
        purchased_at=datetime(2025, 11, 2, 1, 0, tzinfo=UTC),
        installed_at=datetime(2025, 11, 2, 1, 1, tzinfo=UTC),
        started_at=datetime(2025, 11, 2, 1, 1, tzinfo=UTC),
        expires_at=datetime(2025, 11, 9, 1, 1, tzinfo=UTC),
        validity_days=7,
        country_code="TR",
        smdp_address="rsp-3104.idemia.io",
        matching_id="SECRET-MATCHING-ID",
        activation_code="LPA:1$rsp-3104.idemia.io$SECRET-MATCHING-ID",
        network="AveaIletisim Hizmetleri A.S. (TR)",
    )


def check(iccid, **extra):
    return APIClient().post("/api/esim/check/", {"iccid": iccid}, format="json", **extra)


def test_seed_esim_whole_answer(fake_providers):
    fake_providers["travelroam"].records[SEED] = seed_record()
    response = check(SEED)
    assert response.status_code == 200
    body = response.json()
    last_updated = body.pop("last_updated")
    assert last_updated.endswith("Z")
    details = body.pop("source_details")
    assert {name: d["outcome"] for name, d in details.items()} == body["sources"]
    assert all(d["as_of"].endswith("Z") and d["age_seconds"] == 0 for d in details.values())
    assert body == {
        "iccid": SEED,
        "status": "Expired",
        "plan_name": "eSIM, 1GB, 7 Days, Turkey, V2",
        "api_provider": "TRAVELROAM",
        "order_sim_id": "N/A",
        "data_capacity": "1.00 GB",
        "data_consumed": "1.00 GB",
        "data_remaining": "0.00 GB",
        "validity": "7 days",
        "purchase_date": "2025-11-02 01:00:00",
        "activation_code": "rsp-3104.idemia.io",
        "apn": "AveaIletisim Hizmetleri A.S. (TR)",
        "status_code": "expired",
        "profile_status": "Installed",
        "usage": {"capacity_bytes": 10**9, "consumed_bytes": 10**9, "remaining_bytes": 0, "unlimited": False},
        "bundles": [
            {
                "name": "esim_1GB_7D_TR_V2",
                "description": "eSIM, 1GB, 7 Days, Turkey, V2",
                "status_code": "expired",
                "status": "Expired",
                "raw_state": "expired",
                "capacity_bytes": 10**9,
                "consumed_bytes": 10**9,
                "remaining_bytes": 0,
                "unlimited": False,
                "assigned_at": "2025-11-02T01:00:00Z",
                "started_at": "2025-11-02T01:01:00Z",
                "expires_at": "2025-11-09T01:01:00Z",
                "duration_days": 7,
            }
        ],
        "expires_at": "2025-11-09T01:01:00Z",
        "country_code": "TR",
        "sources": {"airhub": "not_found", "esimcard": "not_found", "travelroam": "found"},
        "cached": False,
    }
    assert "SECRET-MATCHING-ID" not in response.content.decode()


def test_seed_keys_are_all_strings_for_the_published_frontend(fake_providers):
    fake_providers["travelroam"].records[SEED] = seed_record()
    body = check(SEED).json()
    seed_keys = [
        "iccid", "status", "plan_name", "api_provider", "order_sim_id", "data_capacity", "data_consumed",
        "data_remaining", "validity", "purchase_date", "activation_code", "apn", "last_updated",
    ]  # fmt: skip
    assert all(isinstance(body[key], str) for key in seed_keys)


def test_spaces_and_dashes_are_accepted(fake_providers):
    fake_providers["travelroam"].records[SEED] = seed_record()
    assert check("8932 0420-0001 0245 583").json()["iccid"] == SEED
    assert fake_providers["travelroam"].calls[0][0] == SEED


def test_merged_answer_names_the_winner_and_keeps_the_resellers_order(fake_providers):
    usage = Usage(capacity_bytes=2 * 10**9, remaining_bytes=15 * 10**8)
    fake_providers["travelroam"].records[MERGED] = EsimRecord(
        provider="travelroam", iccid=MERGED, reference=MERGED, status=StatusCode.ACTIVE, usage=usage,
        plan_name="eSIM, 2GB, 10 Days, Greece, V2",
    )  # fmt: skip
    fake_providers["airhub"].records[MERGED] = EsimRecord(
        provider="airhub", iccid=MERGED, reference="7000001|2026-11-20", order_id="7000001",
        status=StatusCode.ACTIVE, plan_name="Greece 2GB 10 Days",
        purchased_at=datetime(2026, 11, 20, 8, 0, tzinfo=UTC),
    )  # fmt: skip
    body = check(MERGED).json()
    assert body["api_provider"] == "TRAVELROAM"
    assert body["order_sim_id"] == "7000001"
    assert body["purchase_date"] == "2026-11-20 08:00:00"
    assert body["data_remaining"] == "1.50 GB"
    assert body["data_consumed"] == "0.50 GB"
    assert body["sources"] == {"airhub": "found", "esimcard": "not_found", "travelroam": "found"}


def test_unknown_esim_is_404(fake_providers):
    response = check("8944000000000000605")
    assert response.status_code == 404
    assert response.json()["code"] == "esim_not_found"
    assert response.json()["error"] == "eSIM not found."


def test_all_providers_failing_is_503_with_retry_after(fake_providers):
    for fake in fake_providers.values():
        fake.behaviour = ProviderUnavailable(fake.name, "HTTP 500")
    response = check(SEED)
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    body = response.json()
    assert body["code"] == "providers_unavailable"
    assert "airhub: error:unavailable" in body["details"]


def test_a_failing_provider_does_not_spoil_an_answer_from_another(fake_providers):
    fake_providers["travelroam"].records[SEED] = seed_record()
    fake_providers["airhub"].behaviour = ProviderTimeout("airhub", "slow")
    fake_providers["esimcard"].behaviour = ProviderUnavailable("esimcard", "HTTP 503")
    response = check(SEED)
    assert response.status_code == 200
    assert response.json()["sources"] == {
        "airhub": "error:timeout",
        "esimcard": "error:unavailable",
        "travelroam": "found",
    }


def test_some_not_found_and_some_failing_is_503_not_404(fake_providers):
    fake_providers["airhub"].behaviour = ProviderTimeout("airhub", "slow")
    response = check(SEED)
    assert response.status_code == 503


@pytest.mark.parametrize(
    ("iccid", "message"),
    [
        ("", "ICCID is required."),
        ("8932042000", "ICCID must be 18 to 22 digits long, got 10."),
        ("8932042000010245584", "ICCID check digit is wrong (Luhn check failed); please re-type the number."),
        ("89320420000102455A3", "ICCID must contain digits only (spaces and dashes are ignored)."),
        ("1932042000010245583", "ICCID must start with 89 (the telecom industry identifier)."),
    ],
)
def test_invalid_iccid_says_which_rule_failed(fake_providers, iccid, message):
    response = check(iccid)
    assert response.status_code == 400
    assert response.json() == {"error": message, "code": "invalid_iccid", "details": message}
    assert all(not fake.calls for fake in fake_providers.values())


def test_missing_iccid_key_is_invalid_iccid(fake_providers):
    response = APIClient().post("/api/esim/check/", {}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_iccid"


def test_answer_is_cached_and_flagged(fake_providers):
    fake_providers["travelroam"].records[SEED] = seed_record()
    first, second = check(SEED).json(), check(SEED).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert len(fake_providers["travelroam"].calls) == 1


def test_ownership_is_persisted_and_its_reference_reused(fake_providers):
    from django.core.cache import cache

    fake_providers["travelroam"].records[SEED] = seed_record()
    check(SEED)
    assert list(KnownEsim.objects.values_list("iccid", "provider", "reference", "last_status")) == [
        (SEED, "travelroam", SEED, "expired")
    ]
    cache.delete(f"status:v1:{SEED}")
    check(SEED)
    assert fake_providers["travelroam"].calls[-1] == (SEED, SEED)


def test_a_provider_that_does_not_know_the_iccid_is_not_searched_again_soon(fake_providers):
    from django.core.cache import cache

    fake_providers["travelroam"].records[SEED] = seed_record()
    check(SEED)
    cache.delete(f"status:v1:{SEED}")
    body = check(SEED).json()
    assert len(fake_providers["esimcard"].calls) == 1
    assert body["sources"]["esimcard"] == "not_found"


def test_unconfigured_provider_is_reported_and_skipped(fake_providers, monkeypatch):
    from pulse.services import providers as registry

    monkeypatch.setattr(registry, "_clients", {"travelroam": fake_providers["travelroam"]})
    fake_providers["travelroam"].records[SEED] = seed_record()
    body = check(SEED).json()
    assert body["sources"] == {
        "airhub": "not_configured",
        "esimcard": "not_configured",
        "travelroam": "found",
    }


def test_no_provider_configured_is_503(monkeypatch):
    from pulse.services import providers as registry

    monkeypatch.setattr(registry, "_clients", {})
    response = check(SEED)
    assert response.status_code == 503
    assert response.json()["details"] == "No provider is configured."


def test_get_is_not_allowed():
    assert APIClient().get("/api/esim/check/").status_code == 405
