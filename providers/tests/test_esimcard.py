"""ESimCardClient against recorded-shape eSIMCard answers (providers.md §4)."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from providers.base import (
    BundleState,
    CatalogBundle,
    StatusCode,
    TopUpRequest,
    TopUpResult,
    TopUpState,
    Usage,
)
from providers.cache import MemoryCache
from providers.errors import (
    ProviderAuthError,
    ProviderInsufficientFunds,
    ProviderNotFound,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.esimcard import ESimCardClient
from providers.esimcard_parse import activation_fields, binary_bytes, parse_usage, plan_country

FIXTURES = Path(__file__).parent / "fixtures" / "esimcard"
BASE = "https://portal.esimcard.test/api/developer/reseller"
EMAIL, PASSWORD = "reseller@example.test", "pw-Secret-123"
TOKEN = "101|fakeTokenOne0000000000000000000000000"
TOKEN_2 = "102|fakeTokenTwo0000000000000000000000000"
NOW = datetime(2025, 6, 18, 12, 0, tzinfo=UTC)

ICCID_A, ICCID_B, ICCID_C = "8900000000000000002", "8900000000000000010", "8900000000000000028"
UUID_1, UUID_2, UUID_3 = (f"00000000-0000-4000-8000-{n:012x}" for n in (1, 2, 3))
PT_1GB = "00000000-0000-4000-8000-0000000000bb"
PT_3GB = "00000000-0000-4000-8000-0000000000c3"


def load(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def bearer(token: str = TOKEN) -> list:
    return [matchers.header_matcher({"Authorization": f"Bearer {token}", "Accept": "application/json"})]


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def cache() -> MemoryCache:
    return MemoryCache()


def make_client(cache: MemoryCache, **kwargs) -> ESimCardClient:
    kwargs.setdefault("now", lambda: NOW)
    return ESimCardClient(base_url=BASE, email=EMAIL, password=PASSWORD, cache=cache, **kwargs)


@pytest.fixture
def client(cache: MemoryCache) -> ESimCardClient:
    return make_client(cache)


def add_login(rsps, token: str = TOKEN) -> None:
    body = {**load("login_ok"), "access_token": token}
    rsps.post(
        f"{BASE}/login",
        json=body,
        match=[matchers.json_params_matcher({"email": EMAIL, "password": PASSWORD})],
    )


def add_list(rsps, pages=(1, 2, 3)) -> None:
    for page in pages:
        rsps.get(
            f"{BASE}/my-esims",
            json=load(f"my_esims_page{page}"),
            match=[matchers.query_param_matcher({"page": str(page)}), *bearer()],
        )


def add_esim(rsps, uuid: str, detail: str, usage: str | None = None, token: str = TOKEN) -> None:
    rsps.get(f"{BASE}/my-esims/{uuid}", json=load(detail), match=bearer(token))
    if usage is not None:
        rsps.get(f"{BASE}/my-sim/{uuid}/usage", json=load(usage), match=bearer(token))


def paths(rsps, method: str | None = None) -> list[str]:
    return [
        urlsplit(call.request.url).path.removeprefix(urlsplit(BASE).path)
        for call in rsps.calls
        if method is None or call.request.method == method
    ]


def pages_requested(rsps, path: str) -> list[int]:
    return sorted(
        int(parse_qs(urlsplit(call.request.url).query)["page"][0])
        for call in rsps.calls
        if urlsplit(call.request.url).path.endswith(path)
    )


# --- units and activation parsing -------------------------------------------------------------------


def test_binary_gb_of_a_decimal_plan_is_exactly_its_plan_size():
    # 0.9313 GiB is 999,975,761 bytes; eSIMCard rounds to 4 decimals, so it is the 10**9-byte plan.
    assert binary_bytes(0.9313, "GB") == 1_000_000_000
    assert binary_bytes(476.8372, "MB") == 500_000_000


def test_binary_figures_not_near_a_decimal_size_stay_binary():
    assert binary_bytes(1, "GB") == 1_073_741_824
    assert binary_bytes(0.4, "GB") == 429_496_730
    assert binary_bytes(512, "MB") == 536_870_912
    assert binary_bytes("Unlimited", "GB") is None


def test_usage_converts_capacity_and_remaining_each_with_its_own_unit():
    usage = parse_usage(
        {
            "initial_data_quantity": 1,
            "initial_data_unit": "GB",
            "rem_data_quantity": 512,
            "rem_data_unit": "MB",
        }
    )
    assert usage == Usage(
        capacity_bytes=1_073_741_824, consumed_bytes=536_870_912, remaining_bytes=536_870_912
    )


def test_unlimited_string_quantities_give_unlimited_usage_without_bytes():
    assert parse_usage(load("usage_unlimited")["data"]) == Usage(unlimited=True)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"qr_code_text": "LPA:1$rsp.example.net$QR-1"},
            ("LPA:1$rsp.example.net$QR-1", "rsp.example.net", "QR-1"),
        ),
        (
            {"qr_code": "https://cdn.example.test/qr.png", "lpa": "LPA:1$smdp.example.net$L-2"},
            ("LPA:1$smdp.example.net$L-2", "smdp.example.net", "L-2"),
        ),
        (
            {"smdp_address": "smdp.example.net", "activation_code": "BARE-3"},
            ("LPA:1$smdp.example.net$BARE-3", "smdp.example.net", "BARE-3"),
        ),
        (
            {"universal_link": "https://esimsetup.apple.com/x?carddata=LPA%3A1%24rsp.example.net%24U-4"},
            ("LPA:1$rsp.example.net$U-4", "rsp.example.net", "U-4"),
        ),
        ({"qr_code": "https://cdn.example.test/qr.png"}, (None, None, None)),
    ],
)
def test_activation_variants_are_each_accepted(source, expected):
    assert activation_fields(source) == expected


# --- login and tokens ---------------------------------------------------------------------------------


def test_probe_logs_in_then_reads_balance_with_bearer(rsps, client):
    add_login(rsps)
    rsps.get(f"{BASE}/balance", json=load("balance"), match=bearer())

    assert client.probe() is None

    login, balance = rsps.calls
    assert (login.request.method, paths(rsps)) == ("POST", ["/login", "/balance"])
    assert json.loads(login.request.body) == {"email": EMAIL, "password": PASSWORD}
    assert "Authorization" not in login.request.headers
    assert balance.request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_login_401_raises_auth_error_and_logs_no_secret(rsps, client, caplog):
    caplog.set_level(logging.DEBUG)
    rsps.post(f"{BASE}/login", json=load("login_invalid"), status=401)

    with pytest.raises(ProviderAuthError) as excinfo:
        client.probe()

    assert "Invalid login details" in excinfo.value.message
    assert PASSWORD not in caplog.text
    assert PASSWORD not in str(excinfo.value)
    assert paths(rsps) == ["/login"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": False, "message": "Invalid login details"},
        {"status": True, "token_type": "Bearer"},
        {"status": True, "access_token": ""},
    ],
)
def test_login_without_status_true_and_token_raises_auth_error(rsps, client, body):
    rsps.post(f"{BASE}/login", json=body)

    with pytest.raises(ProviderAuthError):
        client.probe()


def test_one_login_serves_many_calls(rsps, client):
    add_login(rsps)
    rsps.get(f"{BASE}/balance", json=load("balance"), match=bearer())

    for _ in range(3):
        client.probe()

    assert paths(rsps).count("/login") == 1


def test_two_clients_sharing_a_cache_share_one_login(rsps, cache):
    add_login(rsps)
    rsps.get(f"{BASE}/balance", json=load("balance"), match=bearer())

    make_client(cache).probe()
    make_client(cache).probe()

    assert paths(rsps) == ["/login", "/balance", "/balance"]


def test_401_logs_in_again_once_and_retries(rsps, client):
    add_login(rsps, TOKEN)
    add_login(rsps, TOKEN_2)
    rsps.get(f"{BASE}/balance", json=load("unauthenticated"), status=401, match=bearer(TOKEN))
    rsps.get(f"{BASE}/balance", json=load("balance"), match=bearer(TOKEN_2))

    client.probe()

    assert paths(rsps) == ["/login", "/balance", "/login", "/balance"]
    assert rsps.calls[3].request.headers["Authorization"] == f"Bearer {TOKEN_2}"


def test_401_after_a_fresh_login_raises_auth_error(rsps, client):
    add_login(rsps, TOKEN)
    add_login(rsps, TOKEN_2)
    rsps.get(f"{BASE}/balance", json=load("unauthenticated"), status=401)

    with pytest.raises(ProviderAuthError):
        client.probe()

    assert paths(rsps) == ["/login", "/balance", "/login", "/balance"]


def test_probe_with_status_false_is_rejected(rsps, client):
    add_login(rsps)
    rsps.get(f"{BASE}/balance", json={"status": False, "message": "Account suspended"})

    with pytest.raises(ProviderRejected, match="Account suspended"):
        client.probe()


# --- lookup -------------------------------------------------------------------------------------------


def test_lookup_finds_the_uuid_in_the_list_and_parses_the_details(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")

    record = client.lookup(ICCID_A)

    assert record.provider == "esimcard"
    assert record.iccid == ICCID_A
    assert record.reference == UUID_1
    assert record.order_id == UUID_1
    assert record.status is StatusCode.ACTIVE
    assert record.profile_status == "Installed"
    assert record.plan_name == "eSIM, 1GB, 7 Days, France, Unthrottled"
    assert record.plan_code == PT_1GB
    # usage endpoint wins over the package figures: 0.9313 GB and 0.3725 GB (binary, 4 decimals)
    assert record.usage == Usage(
        capacity_bytes=1_000_000_000, consumed_bytes=600_000_000, remaining_bytes=400_000_000
    )
    assert record.purchased_at == datetime(2025, 6, 16, 11, 38, 46, tzinfo=UTC)
    assert record.installed_at is None
    assert record.started_at == datetime(2025, 6, 16, 7, 38, 46, tzinfo=UTC)
    assert record.expires_at == datetime(2025, 6, 23, 7, 38, 46, tzinfo=UTC)
    assert record.validity_days == 7
    assert record.activation_code == "LPA:1$rsp.example.net$MATCH-0001"
    assert record.smdp_address == "rsp.example.net"
    assert record.matching_id == "MATCH-0001"
    assert record.apn is None
    assert record.country_code == "FR"  # from the package name: the answer has no country field
    assert record.network is None
    in_use, assigned, completed = record.bundles
    assert in_use == BundleState(
        name="eSIM, 1GB, 7 Days, France, Unthrottled",
        description="eSIM, 1GB, 7 Days, France, Unthrottled",
        state=StatusCode.ACTIVE,
        raw_state="Active",
        # capacity in GB, remaining in MB: each converted with its own unit
        usage=Usage(capacity_bytes=1_000_000_000, consumed_bytes=500_000_000, remaining_bytes=500_000_000),
        started_at=datetime(2025, 6, 16, 7, 38, 46, tzinfo=UTC),
        expires_at=datetime(2025, 6, 23, 7, 38, 46, tzinfo=UTC),
        duration_days=7,
    )
    assert (assigned.state, assigned.raw_state, assigned.started_at) == (
        StatusCode.NOT_ACTIVE,
        "Assigned",
        None,
    )
    assert assigned.usage == Usage(3_000_000_000, 0, 3_000_000_000)
    assert assigned.duration_days == 30  # from the name: no dates before activation
    assert (completed.state, completed.duration_days) == (StatusCode.EXPIRED, 7)
    assert completed.usage == Usage(500_000_000, 500_000_000, 0)


def test_lookup_sends_the_bearer_on_every_call_and_reads_every_page(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")

    client.lookup(ICCID_A)

    assert pages_requested(rsps, "/my-esims") == [1, 2, 3]
    assert sorted(paths(rsps)) == sorted(
        ["/login", "/my-esims", "/my-esims", "/my-esims", f"/my-esims/{UUID_1}", f"/my-sim/{UUID_1}/usage"]
    )
    for call in rsps.calls[1:]:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.method == "GET"


def test_lookup_finds_an_iccid_on_the_last_page(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_3, "esim_detail_unlimited", "usage_unlimited")

    record = client.lookup(ICCID_C)

    assert (record.reference, record.status) == (UUID_3, StatusCode.ACTIVE)
    assert record.usage == Usage(unlimited=True)
    assert record.bundles[0].usage == Usage(unlimited=True)
    assert record.purchased_at == datetime(2025, 6, 1, 19, 45, 10, tzinfo=UTC)


def test_an_unlimited_italy_package_gives_italy(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_3, "esim_detail_unlimited", "usage_unlimited")

    assert client.lookup(ICCID_C).country_code == "IT"


def test_without_packages_the_last_bundle_names_the_country(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_2, "esim_detail_released", "usage_active")

    assert client.lookup(ICCID_B).country_code == "FR"  # sim.last_bundle: no package to read


@pytest.mark.parametrize(
    ("names", "country"),
    [
        (("eSIM, 5GB, 30 Days, France, Unthrottled",), "FR"),
        (("eSIM, Unlimited, 7 Days, Italy",), "IT"),
        (("eSIM, 3GB, 30 Days, Europe Lite, V2", "eSIM, 1GB, 7 Days, France"), None),  # regional
        (("eSIM, 5GB, 15 Days, Spain & Portugal",), None),  # two countries: none is "the" country
        (("1GB 7 Days", "eSIM, 1GB, 7 Days, Turkey, V2"), "TR"),  # the first name that tells wins
        ((None, "", "00000000-0000-4000-8000-0000000000bb"), None),
    ],
)
def test_plan_country_is_the_single_country_a_package_name_covers(names, country):
    assert plan_country(*names) == country


def test_list_without_meta_is_a_single_page(rsps, client):
    add_login(rsps)
    body = load("my_esims_page1")
    del body["meta"]
    rsps.get(f"{BASE}/my-esims", json=body)
    add_esim(rsps, UUID_2, "esim_detail_released", "usage_active")

    client.lookup(ICCID_B)

    assert pages_requested(rsps, "/my-esims") == [1]


def _many_pages(request, *, total: int, per_page: int, last: int):
    number = int(parse_qs(urlsplit(request.url).query)["page"][0])
    meta = {"total": total, "perPage": per_page, "currentPage": number, "lastPage": last}
    data = [{"id": f"u-{number}", "iccid": f"8977700000{number:09d}"}]
    return 200, {}, json.dumps({"status": True, "meta": meta, "data": data})


def test_a_ten_thousand_esim_account_is_read_to_its_last_page(rsps, cache):
    add_login(rsps)
    rsps.add_callback(
        responses.GET,
        f"{BASE}/my-esims",
        callback=lambda request: _many_pages(request, total=10_003, per_page=20, last=501),
    )

    with pytest.raises(ProviderNotFound):
        make_client(cache).lookup(ICCID_A)

    assert pages_requested(rsps, "/my-esims") == list(range(1, 502))


def test_a_last_page_the_total_cannot_explain_is_an_invalid_answer(rsps, cache):
    add_login(rsps)
    rsps.add_callback(
        responses.GET,
        f"{BASE}/my-esims",
        callback=lambda request: _many_pages(request, total=40, per_page=20, last=90_000),
    )

    with pytest.raises(ProviderResponseInvalid, match="claims 90000 pages"):
        make_client(cache).lookup(ICCID_A)


def test_list_pages_never_exceed_page_concurrency(rsps, cache):
    add_login(rsps)
    in_flight, peak, lock = [0], [0], threading.Lock()

    def page(request):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        number = int(parse_qs(urlsplit(request.url).query)["page"][0])
        body = {"status": True, "meta": {"total": 6, "perPage": 1, "currentPage": number, "lastPage": 6}}
        return (
            200,
            {},
            json.dumps({**body, "data": [{"id": f"u-{number}", "iccid": f"89000000000000001{number}"}]}),
        )

    rsps.add_callback(responses.GET, f"{BASE}/my-esims", callback=page)

    with pytest.raises(ProviderNotFound):
        make_client(cache, page_concurrency=2).lookup(ICCID_A)

    assert pages_requested(rsps, "/my-esims") == [1, 2, 3, 4, 5, 6]
    assert peak[0] == 2


def test_second_lookup_of_another_iccid_reuses_the_index(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")
    add_esim(rsps, UUID_2, "esim_detail_released", "usage_active")

    client.lookup(ICCID_A)
    record = client.lookup(ICCID_B)

    assert record.reference == UUID_2
    assert paths(rsps).count("/my-esims") == 3  # one scan of three pages, not two


def test_index_is_shared_with_another_client_on_the_same_cache(rsps, cache):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")
    add_esim(rsps, UUID_2, "esim_detail_released", "usage_active")

    make_client(cache).lookup(ICCID_A)
    make_client(cache).lookup(ICCID_B)

    assert paths(rsps).count("/my-esims") == 3


def test_a_longer_iccid_containing_the_searched_one_does_not_match(rsps, client):
    add_login(rsps)
    add_list(rsps)  # page 3 lists 89000000000000000301

    with pytest.raises(ProviderNotFound):
        client.lookup("8900000000000000030")

    assert not [p for p in paths(rsps) if p.startswith("/my-esims/")]


def test_spaces_and_dashes_in_the_iccid_are_ignored(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")

    assert client.lookup("8900-0000 0000-0000 002").iccid == ICCID_A


def test_lookup_with_reference_skips_the_list(rsps, client):
    add_login(rsps)
    add_esim(rsps, UUID_2, "esim_detail_released", "usage_active")

    record = client.lookup(ICCID_B, reference=UUID_2)

    assert sorted(paths(rsps)) == ["/login", f"/my-esims/{UUID_2}", f"/my-sim/{UUID_2}/usage"]
    assert record.reference == UUID_2
    assert record.status is StatusCode.NOT_ACTIVE  # no package: the profile state decides
    assert record.profile_status == "Released"
    assert record.plan_name == "eSIM, 1GB, 7 Days, France, Unthrottled"  # sim.last_bundle
    assert record.plan_code is None
    assert record.bundles == ()
    assert record.validity_days == 7  # from the plan name
    assert record.purchased_at == datetime(2025, 6, 10, 8, 12, 3, tzinfo=UTC)
    assert record.activation_code == "LPA:1$rsp.example.net$MATCH-0002"
    assert record.apn == "globaldata"
    assert record.usage == Usage(1_000_000_000, 600_000_000, 400_000_000)


def test_reference_lookup_takes_the_purchase_date_from_a_warm_index_only(rsps, client):
    add_login(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")  # its sim has no created_at

    assert client.lookup(ICCID_A, reference=UUID_1).purchased_at is None
    add_list(rsps)
    client.lookup(ICCID_A)
    warm = client.lookup(ICCID_A, reference=UUID_1)

    assert warm.purchased_at == datetime(2025, 6, 16, 11, 38, 46, tzinfo=UTC)
    assert paths(rsps).count("/my-esims") == 3


def test_reference_naming_another_iccid_falls_back_to_the_index(rsps, client):
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_2, "esim_detail_released", "usage_active")  # the stale reference: ICCID B
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")

    record = client.lookup(ICCID_A, reference=UUID_2)

    assert (record.iccid, record.reference) == (ICCID_A, UUID_1)
    assert paths(rsps).count("/my-esims") == 3


@pytest.mark.parametrize(("status", "body"), [(404, "esim_not_found"), (200, "esim_not_found")])
def test_unknown_reference_falls_back_to_the_index(rsps, client, status, body):
    add_login(rsps)
    add_list(rsps)
    rsps.get(f"{BASE}/my-esims/stale-uuid", json=load(body), status=status)
    rsps.get(f"{BASE}/my-sim/stale-uuid/usage", json=load(body), status=status)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")

    assert client.lookup(ICCID_A, reference="stale-uuid").reference == UUID_1


def test_details_with_status_false_are_not_found(rsps, client):
    add_login(rsps)
    add_list(rsps)
    rsps.get(f"{BASE}/my-esims/{UUID_1}", json=load("esim_not_found"))
    rsps.get(f"{BASE}/my-sim/{UUID_1}/usage", json=load("usage_active"))

    with pytest.raises(ProviderNotFound, match="eSIM not found"):
        client.lookup(ICCID_A)


def test_details_with_another_status_false_are_a_refusal_not_a_miss(rsps, client):
    add_login(rsps)
    rsps.get(
        f"{BASE}/my-esims/{UUID_1}", json={"status": False, "message": "Service temporarily unavailable"}
    )
    rsps.get(f"{BASE}/my-sim/{UUID_1}/usage", json=load("usage_active"))

    with pytest.raises(ProviderRejected, match="Service temporarily unavailable") as excinfo:
        client.lookup(ICCID_A, reference=UUID_1)
    assert type(excinfo.value) is ProviderRejected


def test_details_and_usage_are_read_concurrently(rsps, client):
    add_login(rsps)
    barrier = threading.Barrier(2, timeout=2)

    def answer(fixture):
        def callback(request):
            barrier.wait()  # only passes when both requests are in flight at once
            return 200, {}, json.dumps(load(fixture))

        return callback

    rsps.add_callback(responses.GET, f"{BASE}/my-esims/{UUID_1}", callback=answer("esim_detail_active"))
    rsps.add_callback(responses.GET, f"{BASE}/my-sim/{UUID_1}/usage", callback=answer("usage_active"))

    assert client.lookup(ICCID_A, reference=UUID_1).reference == UUID_1


@pytest.mark.parametrize(
    "failure",
    [
        {"body": requests.Timeout()},
        {"status": 500, "json": {"message": "Server Error"}},
        {"json": {"status": False, "message": "eSIM not found"}},
    ],
)
def test_a_failed_usage_read_falls_back_to_the_package_figures(rsps, client, caplog, failure):
    add_login(rsps)
    rsps.get(f"{BASE}/my-esims/{UUID_1}", json=load("esim_detail_active"))
    rsps.get(f"{BASE}/my-sim/{UUID_1}/usage", **failure)

    record = client.lookup(ICCID_A, reference=UUID_1)

    assert record.usage == Usage(1_000_000_000, 500_000_000, 500_000_000)
    assert "usage for 890000*********0002 failed" in caplog.text


def test_a_failed_details_read_fails_the_lookup(rsps, client):
    add_login(rsps)
    rsps.get(f"{BASE}/my-esims/{UUID_1}", status=503, json={"message": "Service Unavailable"})
    rsps.get(f"{BASE}/my-sim/{UUID_1}/usage", json=load("usage_active"))

    with pytest.raises(ProviderUnavailable):
        client.lookup(ICCID_A, reference=UUID_1)


def test_lookup_after_401_logs_in_again_once(rsps, client):
    add_login(rsps, TOKEN)
    add_login(rsps, TOKEN_2)
    for path in (f"my-esims/{UUID_1}", f"my-sim/{UUID_1}/usage"):
        rsps.get(f"{BASE}/{path}", json=load("unauthenticated"), status=401, match=bearer(TOKEN))
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active", token=TOKEN_2)

    record = client.lookup(ICCID_A, reference=UUID_1)

    assert record.usage == Usage(1_000_000_000, 600_000_000, 400_000_000)
    assert paths(rsps).count("/login") == 2


@pytest.mark.parametrize(
    ("kwargs", "error", "check"),
    [
        (
            {"status": 429, "json": {"message": "Too Many Attempts."}, "headers": {"Retry-After": "7"}},
            ProviderUnavailable,
            lambda exc: exc.retry_after == 7.0 and exc.status_code == 429,
        ),
        ({"status": 500, "json": {"message": "Server Error"}}, ProviderUnavailable, lambda exc: True),
        ({"body": requests.Timeout()}, ProviderTimeout, lambda exc: True),
        ({"body": requests.ConnectionError()}, ProviderUnavailable, lambda exc: True),
        (
            {"body": "<html>Bad gateway</html>", "content_type": "text/html"},
            ProviderResponseInvalid,
            lambda exc: True,
        ),
        ({"json": {"status": True, "meta": {"lastPage": 1}}}, ProviderResponseInvalid, lambda exc: True),
        (
            {"json": {"status": False, "message": "Service temporarily unavailable"}},
            ProviderRejected,
            lambda exc: "Service temporarily unavailable" in exc.message,
        ),
    ],
)
def test_list_failures_raise_typed_errors(rsps, client, kwargs, error, check):
    add_login(rsps)
    rsps.get(f"{BASE}/my-esims", **kwargs)

    with pytest.raises(error) as excinfo:
        client.lookup(ICCID_A)

    assert type(excinfo.value) is error
    assert check(excinfo.value)


def test_logs_carry_no_token_password_or_activation_secret(rsps, client, caplog):
    caplog.set_level(logging.DEBUG)
    add_login(rsps)
    add_list(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active", "usage_active")

    client.lookup(ICCID_A)

    for secret in (TOKEN, PASSWORD, "MATCH-0001", ICCID_A):
        assert secret not in caplog.text


# --- catalogue ----------------------------------------------------------------------------------------


def add_catalogue(rsps) -> None:
    for page in (1, 2):
        rsps.get(
            f"{BASE}/packages",
            json=load(f"packages_page{page}"),
            match=[matchers.query_param_matcher({"package_type": "DATA-ONLY", "page": str(page)}), *bearer()],
        )
    rsps.get(f"{BASE}/pricing", json=load("pricing"), match=bearer())


def test_catalogue_reads_every_package_page_and_the_pricing_countries(rsps, cache):
    add_login(rsps)
    add_catalogue(rsps)

    bundles = make_client(cache, currency="EUR").catalogue()

    assert pages_requested(rsps, "/packages") == [1, 2]
    assert paths(rsps).count("/pricing") == 1
    uuid = "00000000-0000-4000-8000-0000000000{}".format
    assert bundles == [
        CatalogBundle(
            provider="esimcard",
            code=uuid("bb"),
            description="eSIM, 1GB, 7 Days, France, Unthrottled",
            cost=Decimal("3.61"),
            currency="EUR",
            countries=("FR",),
            data_bytes=1_000_000_000,
            duration_days=7,
            package_id=uuid("bb"),
        ),
        CatalogBundle(
            provider="esimcard",
            code=uuid("dd"),
            description="eSIM, 500MB, 7 Days, Europe",
            cost=Decimal("2.10"),
            currency="EUR",
            countries=("DE", "FR"),
            data_bytes=500_000_000,
            duration_days=7,
            package_id=uuid("dd"),
        ),
        CatalogBundle(
            provider="esimcard",
            code=uuid("ee"),
            description="eSIM, Unlimited, 5 Days, Italy",
            cost=Decimal("19.90"),
            currency="EUR",
            countries=("IT",),
            data_bytes=None,
            unlimited=True,
            duration_days=5,
            package_id=uuid("ee"),
        ),
        CatalogBundle(
            provider="esimcard",
            code=uuid("cc"),
            description="eSIM, 20GB, 1 Month, Europe",
            cost=Decimal("24.00"),
            currency="EUR",
            countries=("DE", "FR"),
            data_bytes=20_000_000_000,
            duration_days=30,  # "Month" read as 30 days
            package_id=uuid("cc"),
        ),
        CatalogBundle(  # only in /pricing
            provider="esimcard",
            code=uuid("f1"),
            description="eSIM, 5GB, 30 Days, Spain",
            cost=Decimal("9.75"),
            currency="EUR",
            countries=("ES",),
            data_bytes=5_000_000_000,
            duration_days=30,
            package_id=uuid("f1"),
        ),
    ]


def test_catalogue_skips_and_logs_an_item_without_a_price(rsps, client, caplog):
    add_login(rsps)
    add_catalogue(rsps)

    codes = [bundle.code for bundle in client.catalogue()]

    assert "00000000-0000-4000-8000-0000000000f0" not in codes
    assert "catalogue item 00000000-0000-4000-8000-0000000000f0 skipped" in caplog.text


def test_catalogue_fails_when_pricing_fails(rsps, client):
    add_login(rsps)
    add_catalogue(rsps)
    rsps.replace(responses.GET, f"{BASE}/pricing", status=500, json={"message": "Server Error"})

    with pytest.raises(ProviderUnavailable):
        client.catalogue()


# --- top-ups ------------------------------------------------------------------------------------------


def topup_request(**kwargs) -> TopUpRequest:
    values = {
        "iccid": ICCID_A,
        "esim_reference": UUID_1,
        "bundle_code": PT_3GB,
        "order_reference": "ord_42",
        "package_id": PT_3GB,
    }
    return TopUpRequest(**{**values, **kwargs})


def add_can_topup(rsps, fixture: str = "can_topup_true") -> None:
    rsps.post(
        f"{BASE}/can-topup-esim",
        json=load(fixture),
        match=[matchers.json_params_matcher({"imei": ICCID_A}), *bearer()],
    )


def add_purchase(rsps, **kwargs) -> None:
    body = {"imei": ICCID_A, "package_type_id": PT_3GB}
    rsps.post(f"{BASE}/package/purchase", match=[matchers.json_params_matcher(body), *bearer()], **kwargs)


def test_top_up_checks_availability_then_purchases(rsps, client):
    add_login(rsps)
    add_can_topup(rsps)
    add_purchase(rsps, json=load("purchase_instant"))

    result = client.top_up(topup_request())

    assert result == TopUpResult(
        provider="esimcard", reference=f"{UUID_1}:ord_42", state=TopUpState.COMPLETED, message=""
    )
    assert paths(rsps) == ["/login", "/can-topup-esim", "/package/purchase"]
    assert json.loads(rsps.calls[2].request.body) == {"imei": ICCID_A, "package_type_id": PT_3GB}


def test_delayed_purchase_is_pending(rsps, client):
    add_login(rsps)
    add_can_topup(rsps)
    add_purchase(rsps, json=load("purchase_delayed"))

    result = client.top_up(topup_request())

    assert result.state is TopUpState.PENDING
    assert result.reference == f"{UUID_1}:ord_42"
    assert result.message.startswith("Your esim has been purchased but cannot be downloaded now.")


def test_purchase_order_id_becomes_the_reference(rsps, client):
    add_login(rsps)
    add_can_topup(rsps)
    add_purchase(rsps, json=load("purchase_async"))

    result = client.top_up(topup_request())

    assert (result.reference, result.state) == ("100", TopUpState.PENDING)


def test_top_up_not_available_is_rejected_before_purchasing(rsps, client):
    add_login(rsps)
    add_can_topup(rsps, "can_topup_false")

    with pytest.raises(ProviderRejected, match="top-up not available for this eSIM"):
        client.top_up(topup_request())

    assert "/package/purchase" not in paths(rsps)


def test_availability_check_timeout_is_unavailable_not_unknown(rsps, client):
    add_login(rsps)
    rsps.post(f"{BASE}/can-topup-esim", body=requests.Timeout())

    with pytest.raises(ProviderUnavailable) as excinfo:
        client.top_up(topup_request())

    assert not isinstance(excinfo.value, ProviderTimeout)
    assert "/package/purchase" not in paths(rsps)


def test_insufficient_balance_is_rejected_as_insufficient_funds(rsps, client):
    add_login(rsps)
    add_can_topup(rsps)
    add_purchase(rsps, json=load("insufficient_balance"))

    with pytest.raises(ProviderRejected, match="Insufficient Wallet Balance") as excinfo:
        client.top_up(topup_request())

    # A definite refusal (refund as before) that also tells the sales guard the wallet is empty.
    assert type(excinfo.value) is ProviderInsufficientFunds


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"json": {"data": {"sim_applied": True}}}, ProviderResponseInvalid),
        ({"body": "", "status": 200}, ProviderResponseInvalid),
        ({"body": requests.Timeout()}, ProviderTimeout),
        ({"status": 500, "json": {"message": "Server Error"}}, ProviderUnavailable),
        (
            {"status": 422, "json": {"message": "The package type id field is required."}},
            ProviderRejected,
        ),
    ],
)
def test_purchase_failures_are_typed_and_never_retried(rsps, client, kwargs, error):
    add_login(rsps)
    add_can_topup(rsps)
    add_purchase(rsps, **kwargs)

    with pytest.raises(error) as excinfo:
        client.top_up(topup_request())

    assert type(excinfo.value) is error
    assert paths(rsps).count("/package/purchase") == 1


def test_purchase_401_logs_in_again_once(rsps, client):
    add_login(rsps, TOKEN)
    add_login(rsps, TOKEN_2)
    add_can_topup(rsps)
    rsps.post(f"{BASE}/package/purchase", json=load("unauthenticated"), status=401, match=bearer(TOKEN))
    rsps.post(f"{BASE}/package/purchase", json=load("purchase_instant"), match=bearer(TOKEN_2))

    assert client.top_up(topup_request()).state is TopUpState.COMPLETED
    assert paths(rsps) == ["/login", "/can-topup-esim", "/package/purchase", "/login", "/package/purchase"]


def test_top_up_without_package_id_fails_before_any_call(rsps, client):
    with pytest.raises(ValueError):
        client.top_up(topup_request(package_id=None))

    assert len(rsps.calls) == 0


def test_find_top_up_reports_a_new_assigned_package(rsps, client):
    add_login(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active")

    result = client.find_top_up(topup_request(), since=NOW - timedelta(hours=1))

    assert result == TopUpResult(
        provider="esimcard",
        reference="00000000-0000-4000-8000-0000000000a2",
        state=TopUpState.COMPLETED,
        message="assigned package",
    )
    assert paths(rsps) == ["/login", f"/my-esims/{UUID_1}"]


def test_find_top_up_ignores_a_package_activated_before_since(rsps, client):
    add_login(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active")

    # the in-use 1GB package was activated on 2025-06-16, before the order
    assert client.find_top_up(topup_request(package_id=PT_1GB), since=NOW - timedelta(hours=1)) is None
    assert client.find_top_up(topup_request(package_id=PT_1GB), since=datetime(2025, 6, 1, tzinfo=UTC))


def test_find_top_up_with_a_reference_of_another_esim_is_not_found(rsps, client):
    add_login(rsps)
    add_esim(rsps, UUID_1, "esim_detail_active")

    with pytest.raises(ProviderNotFound):
        client.find_top_up(topup_request(iccid=ICCID_B), since=NOW)
