"""TravelRoam client (providers.md §3): eSIM Go shapes over TravelRoam's POST transport."""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

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
    ProviderNotFound,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
)
from providers.travelroam import TravelRoamClient

BASE = "https://sandbox.travelroam.test/api/whitelabel"
API_KEY = "test-api-key"
SECRET = "test-client-secret"
ICCID = "8932042000010245583"
MATCHING_ID = "TQ7RZ-4KXWP-M2N8V-J5HCD"
NOW = datetime(2025, 11, 14, 16, 22, 35, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "travelroam"
AUTH = {"x-api-key": API_KEY, "clientSecret": SECRET}
JSON_HEADERS = {**AUTH, "Accept": "application/json", "Content-Type": "application/json"}

DETAILS, BUNDLES, LOCATION = (
    f"{BASE}/esims/details",
    f"{BASE}/esims/applied/bundles",
    f"{BASE}/esims/location",
)
CATALOGUE, ORDERS = f"{BASE}/catalogue", f"{BASE}/processorders"


def load(name: str):
    return json.loads((FIXTURES / f"{name}.json").read_text())


def make_client(**overrides) -> TravelRoamClient:
    options = {
        "base_url": BASE,
        "api_key": API_KEY,
        "client_secret": SECRET,
        "cache": MemoryCache(),
        "now": lambda: NOW,
    }
    return TravelRoamClient(**{**options, **overrides})


@pytest.fixture
def client() -> TravelRoamClient:
    return make_client()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def iccid_body(iccid: str = ICCID):
    return [matchers.json_params_matcher({"iccid": iccid}), matchers.header_matcher(JSON_HEADERS)]


def register_lookup(rsps, *, details="details_installed", bundles="bundles_expired", location="location"):
    """Each argument is a fixture name, or a (status, fixture-or-exception) pair."""
    for url, spec in ((DETAILS, details), (BUNDLES, bundles), (LOCATION, location)):
        status, payload = spec if isinstance(spec, tuple) else (200, spec)
        if isinstance(payload, Exception):
            rsps.add(responses.POST, url, body=payload, match=iccid_body())
        else:
            rsps.add(responses.POST, url, json=load(payload), status=status, match=iccid_body())


def assert_lookup_requests(rsps, iccid: str = ICCID) -> None:
    paths = sorted(call.request.url for call in rsps.calls)
    assert paths == sorted([DETAILS, BUNDLES, LOCATION])
    for call in rsps.calls:
        request = call.request
        assert request.method == "POST"
        assert json.loads(request.body) == {"iccid": iccid}
        assert request.headers["x-api-key"] == API_KEY
        assert request.headers["clientSecret"] == SECRET
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Content-Type"] == "application/json"


# --- lookup: happy paths -----------------------------------------------------------------------------


def test_seed_esim_is_expired_with_decimal_capacity(client, rsps, caplog):
    register_lookup(rsps)
    caplog.set_level(logging.DEBUG)

    record = client.lookup(ICCID)

    assert_lookup_requests(rsps)
    expired = BundleState(
        name="esim_1GB_7D_TR_V2",
        description="eSIM, 1GB, 7 Days, Turkey, V2",
        state=StatusCode.EXPIRED,
        raw_state="expired",
        usage=Usage(capacity_bytes=10**9, consumed_bytes=10**9, remaining_bytes=0),
        assigned_at=datetime(2025, 11, 2, 1, 0, tzinfo=UTC),
        started_at=datetime(2025, 11, 2, 1, 1, tzinfo=UTC),
        expires_at=datetime(2025, 11, 9, 1, 1, tzinfo=UTC),
        duration_days=7,
    )
    assert record.provider == "travelroam"
    assert record.iccid == ICCID
    assert record.reference == ICCID
    assert record.status is StatusCode.EXPIRED
    assert record.profile_status == "Installed"
    assert record.plan_name == "eSIM, 1GB, 7 Days, Turkey, V2"
    assert record.plan_code == "esim_1GB_7D_TR_V2"
    assert record.order_id is None
    assert record.usage == expired.usage
    assert record.usage.capacity_bytes == 1_000_000_000  # never 0.93 GB
    assert record.bundles == (expired,)
    assert record.purchased_at == datetime(2025, 11, 2, 1, 0, tzinfo=UTC)
    assert record.installed_at == datetime(2025, 11, 2, 1, 1, tzinfo=UTC)
    assert record.started_at == datetime(2025, 11, 2, 1, 1, tzinfo=UTC)
    assert record.expires_at == datetime(2025, 11, 9, 1, 1, tzinfo=UTC)
    assert record.validity_days == 7
    assert record.country_code == "TR"
    assert record.network == "ExampleNet A.S. (TR)"
    assert record.smdp_address == "rsp.example.net"
    assert record.matching_id == MATCHING_ID
    assert record.activation_code == f"LPA:1$rsp.example.net${MATCHING_ID}"
    assert record.apn is None
    assert MATCHING_ID not in caplog.text
    assert ICCID not in caplog.text


def test_depleted_within_validity_is_depleted(client, rsps):
    register_lookup(rsps, bundles="bundles_depleted")

    record = client.lookup(ICCID)

    assert record.status is StatusCode.DEPLETED
    assert record.bundles[0].raw_state == "Depleted"
    assert record.usage == Usage(capacity_bytes=10**9, consumed_bytes=10**9, remaining_bytes=0)
    assert record.expires_at == datetime(2025, 11, 17, 9, 0, 3, tzinfo=UTC)


def test_queued_bundle_without_dates_is_not_active(client, rsps):
    register_lookup(rsps, bundles="bundles_queued")

    record = client.lookup(ICCID)

    assert record.status is StatusCode.NOT_ACTIVE
    assert record.started_at is None
    assert record.expires_at is None
    assert record.purchased_at == datetime(2025, 11, 14, 10, 30, tzinfo=UTC)
    assert record.validity_days == 7  # from the code, since there is no start/end yet
    assert record.usage == Usage(capacity_bytes=10**9, consumed_bytes=0, remaining_bytes=10**9)


def test_active_bundle_wins_over_the_old_expired_first_one(client, rsps):
    register_lookup(rsps, bundles="bundles_several")

    record = client.lookup(ICCID)

    assert record.status is StatusCode.ACTIVE
    assert record.plan_code == "esim_3GB_15D_TR_V2"
    assert record.plan_name == "eSIM, 3GB, 15 Days, Turkey, V2"
    assert record.usage == Usage(
        capacity_bytes=3 * 10**9, consumed_bytes=5 * 10**8, remaining_bytes=25 * 10**8
    )
    assert record.validity_days == 15
    assert record.purchased_at == datetime(2025, 11, 12, 7, 45, 10, tzinfo=UTC)
    assert record.expires_at == datetime(2025, 11, 27, 8, 2, 31, tzinfo=UTC)
    # the voice assignment is not a data bundle
    assert [(b.name, b.state) for b in record.bundles] == [
        ("esim_1GB_7D_TR_V2", StatusCode.EXPIRED),
        ("esim_3GB_15D_TR_V2", StatusCode.ACTIVE),
    ]


def test_unlimited_assignment_is_kept(client, rsps):
    register_lookup(rsps, bundles="bundles_unlimited")

    record = client.lookup(ICCID)

    assert record.status is StatusCode.ACTIVE
    assert record.usage == Usage(unlimited=True)
    assert record.plan_code == "esim_ULE_1D_TR_V2"
    assert record.validity_days == 1


def test_validity_falls_back_to_start_and_end(client, rsps):
    register_lookup(rsps, bundles="bundles_no_duration_in_code")

    record = client.lookup(ICCID)

    assert record.bundles[0].duration_days is None
    assert record.validity_days == 10
    assert record.status is StatusCode.ACTIVE  # callTypeGroup "Data" counts as data


def test_no_bundles_falls_back_to_profile_status(client, rsps):
    register_lookup(rsps, details="details_released_v22", bundles="bundles_empty")

    record = client.lookup(ICCID)

    assert record.status is StatusCode.NOT_ACTIVE
    assert record.profile_status == "Released"
    assert record.bundles == ()
    assert record.usage is None
    assert record.country_code == "TR"  # from the location
    assert record.installed_at == datetime(2025, 11, 2, 1, 1, tzinfo=UTC)  # v2.2 date-time string


def test_location_failure_is_ignored_and_country_comes_from_the_code(client, rsps, caplog):
    register_lookup(rsps, location=(500, "error_server"))
    caplog.set_level(logging.INFO, logger="providers.travelroam")

    record = client.lookup(ICCID)

    assert record.status is StatusCode.EXPIRED
    assert record.network is None
    assert record.country_code == "TR"
    assert "location unavailable" in caplog.text


def test_location_brand_name_is_used_when_network_name_is_absent(client, rsps):
    register_lookup(rsps, location="location_brand_only")

    record = client.lookup(ICCID)

    assert record.network == "BeispielFunk (DE)"
    assert record.country_code == "DE"


def _paths(rsps) -> list[str]:
    return sorted(call.request.url.rsplit("/esims/", 1)[1] for call in rsps.calls)


def test_the_location_is_read_again_only_after_its_max_age_and_usage_always():
    clock = [NOW]
    client = make_client(location_max_age=300, now=lambda: clock[0])
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        register_lookup(rsps)
        first = client.lookup(ICCID)
        assert _paths(rsps) == ["applied/bundles", "details", "location"]

        rsps.calls.reset()
        clock[0] += timedelta(seconds=299)
        again = client.lookup(ICCID)
        assert _paths(rsps) == ["applied/bundles", "details"]  # status and usage: live
        assert (
            (again.network, again.country_code)
            == (first.network, first.country_code)
            == (
                "ExampleNet A.S. (TR)",
                "TR",
            )
        )

        rsps.calls.reset()
        clock[0] += timedelta(seconds=1)
        client.lookup(ICCID)
        assert _paths(rsps) == ["applied/bundles", "details", "location"]


def test_a_failed_location_read_is_not_remembered(rsps):
    client = make_client(location_max_age=300)
    register_lookup(rsps, location=(500, "error_server"))
    assert client.lookup(ICCID).network is None
    rsps.calls.reset()
    client.lookup(ICCID)
    assert "location" in _paths(rsps)


def test_with_location_max_age_0_every_lookup_reads_the_location(rsps):
    client = make_client(location_max_age=0)
    register_lookup(rsps)
    client.lookup(ICCID)
    client.lookup(ICCID)
    assert _paths(rsps).count("location") == 2


def test_iccid_is_normalised_before_sending(client, rsps):
    register_lookup(rsps)

    record = client.lookup("8932 0420-0001 0245 583", reference="ignored")

    assert_lookup_requests(rsps)
    assert record.iccid == ICCID


def test_the_three_calls_run_concurrently(client, rsps):
    barrier = threading.Barrier(3, timeout=2)

    def answer(fixture):
        def callback(request):
            barrier.wait()  # breaks (and fails the lookup) unless all three are in flight at once
            return 200, {}, json.dumps(load(fixture))

        return callback

    for url, fixture in (
        (DETAILS, "details_installed"),
        (BUNDLES, "bundles_expired"),
        (LOCATION, "location"),
    ):
        rsps.add_callback(responses.POST, url, callback=answer(fixture))

    assert client.lookup(ICCID).status is StatusCode.EXPIRED


def test_headers_are_not_written_onto_a_shared_session(rsps):
    session = requests.Session()
    client = make_client(session=session)
    register_lookup(rsps)

    client.lookup(ICCID)

    assert "x-api-key" not in session.headers
    assert "clientSecret" not in session.headers


# --- lookup: failures --------------------------------------------------------------------------------


def test_bundles_failure_keeps_the_esim_with_unknown_status(client, rsps, caplog):
    register_lookup(rsps, bundles=(500, "error_server"))
    caplog.set_level(logging.WARNING, logger="providers.travelroam")

    record = client.lookup(ICCID)

    assert record.status is StatusCode.UNKNOWN  # not "Active" from the Installed profile
    assert record.bundles == ()
    assert record.usage is None
    assert record.plan_code is None
    assert record.matching_id == MATCHING_ID
    assert record.network == "ExampleNet A.S. (TR)"
    assert "applied bundles unavailable for 893204*********5583 (unavailable)" in caplog.text


def test_malformed_bundles_body_counts_as_a_bundles_failure(client, rsps):
    register_lookup(rsps, bundles="error_server")  # 200 but no `bundles` list

    record = client.lookup(ICCID)

    assert record.status is StatusCode.UNKNOWN
    assert record.bundles == ()


@pytest.mark.parametrize("status", [400, 404])
def test_details_not_found_wins_even_when_bundles_answered(client, rsps, status):
    register_lookup(rsps, details=(status, "error_iccid_not_found"))

    with pytest.raises(ProviderNotFound) as caught:
        client.lookup(ICCID)

    assert caught.value.status_code == status
    assert "not found" in caught.value.message
    assert len(rsps.calls) == 3


def test_longer_iccid_containing_the_searched_one_is_not_a_match(client, rsps):
    register_lookup(rsps, details="details_other_iccid")

    with pytest.raises(ProviderNotFound):
        client.lookup(ICCID)


@pytest.mark.parametrize(
    ("details", "error"),
    [
        ((500, "error_server"), ProviderUnavailable),
        ((403, "error_forbidden"), ProviderAuthError),
        ((401, "error_forbidden"), ProviderAuthError),
        ((200, requests.Timeout()), ProviderTimeout),
        ((200, requests.ConnectionError()), ProviderUnavailable),
    ],
)
def test_details_errors_decide_the_outcome(client, rsps, details, error):
    register_lookup(rsps, details=details)

    with pytest.raises(error):
        client.lookup(ICCID)

    assert sum(call.request.url == DETAILS for call in rsps.calls) == 1  # no retry, no login


def test_rate_limit_carries_retry_after(client, rsps):
    rsps.add(responses.POST, DETAILS, json=load("error_server"), status=429, headers={"Retry-After": "7"})
    register_lookup(rsps, details="details_installed")  # registered second: never reached for details

    with pytest.raises(ProviderUnavailable) as caught:
        client.lookup(ICCID)

    assert caught.value.status_code == 429
    assert caught.value.retry_after == 7.0


def test_details_body_that_is_not_json_is_invalid(client, rsps):
    rsps.add(responses.POST, DETAILS, body="<html>Bad gateway</html>", status=200)
    register_lookup(rsps, details="details_installed")

    with pytest.raises(ProviderResponseInvalid):
        client.lookup(ICCID)


# --- catalogue ---------------------------------------------------------------------------------------


def test_catalogue_reads_every_page(rsps):
    client = make_client(currency="eur", catalogue_page_size=2)
    for page in (1, 2, 3):
        rsps.add(
            responses.POST,
            CATALOGUE,
            json=load(f"catalogue_page{page}"),
            match=[
                matchers.json_params_matcher({"page": page, "perPage": 2}),
                matchers.header_matcher(JSON_HEADERS),
            ],
        )

    bundles = client.catalogue()

    assert sorted(json.loads(call.request.body)["page"] for call in rsps.calls) == [1, 2, 3]
    assert [b.code for b in bundles] == [
        "esim_1GB_7D_TR_V2",
        "esim_3GB_15D_TR_V2",
        "esim_500MB_1D_DE_V2",
        "esim_5GB_30D_EUROPE_V2",
        "esim_ULE_1D_TR_V2",
    ]  # the bundle without a price and the one without a name are skipped
    assert bundles[0] == CatalogBundle(
        provider="travelroam",
        code="esim_1GB_7D_TR_V2",
        description="eSIM, 1GB, 7 Days, Turkey, V2",
        cost=Decimal("1.23"),
        currency="EUR",
        countries=("TR",),
        region="Europe",
        data_bytes=10**9,
        unlimited=False,
        duration_days=7,
        package_id=None,
    )
    assert bundles[2].data_bytes == 500 * 10**6
    assert bundles[3].countries == ("DE", "FR", "ES")  # roamingEnabled isos added, upper-cased
    assert bundles[3].cost == Decimal("12")
    assert (bundles[4].unlimited, bundles[4].data_bytes, bundles[4].duration_days) == (True, None, 1)


def test_catalogue_country_filter_is_a_comma_list(client, rsps):
    rsps.add(
        responses.POST,
        CATALOGUE,
        json=load("catalogue_single_unpaged"),
        match=[matchers.json_params_matcher({"page": 1, "perPage": 100, "countries": "DE,TR"})],
    )

    bundles = client.catalogue(countries=["tr", "DE"])

    assert len(rsps.calls) == 1  # no page count: a single page
    assert bundles[0].currency == "USD"


def test_catalogue_fails_when_a_page_fails(rsps):
    client = make_client(catalogue_page_size=2)
    rsps.add(
        responses.POST,
        CATALOGUE,
        json=load("catalogue_page1"),
        match=[matchers.json_params_matcher({"page": 1, "perPage": 2})],
    )
    rsps.add(
        responses.POST,
        CATALOGUE,
        json=load("catalogue_page2"),
        match=[matchers.json_params_matcher({"page": 2, "perPage": 2})],
    )
    rsps.add(
        responses.POST,
        CATALOGUE,
        status=502,
        json=load("error_server"),
        match=[matchers.json_params_matcher({"page": 3, "perPage": 2})],
    )

    with pytest.raises(ProviderUnavailable):
        client.catalogue()


# --- top-ups -----------------------------------------------------------------------------------------

TOP_UP = TopUpRequest(
    iccid=ICCID, esim_reference=ICCID, bundle_code="esim_1GB_7D_TR_V2", order_reference="REN-0A1B2C3D4E5F"
)
ORDER_BODY = {"bundleName": "esim_1GB_7D_TR_V2", "orderType": "COUNTRY", "iccid": ICCID}


def add_order(rsps, *, status=200, fixture=None, body=None):
    kwargs = {"json": load(fixture)} if fixture else {"body": body}
    rsps.add(
        responses.POST,
        ORDERS,
        status=status,
        match=[matchers.json_params_matcher(ORDER_BODY), matchers.header_matcher(JSON_HEADERS)],
        **kwargs,
    )


def test_top_up_success(client, rsps):
    add_order(rsps, fixture="processorders_completed")

    result = client.top_up(TOP_UP)

    assert result == TopUpResult(
        provider="travelroam",
        reference="0b6a1f2e-7c3d-4e8a-9b5f-1d2c3e4f5a6b",
        state=TopUpState.COMPLETED,
        message="Order completed: 1 bundles assigned",
    )
    assert len(rsps.calls) == 1


def test_top_up_processing_is_pending_with_order_id(client, rsps):
    add_order(rsps, fixture="processorders_processing")

    result = client.top_up(TOP_UP)

    assert (result.state, result.reference) == (TopUpState.PENDING, "TR-ORD-000418273")


def test_top_up_422_is_rejected_with_the_provider_message(client, rsps):
    add_order(rsps, status=422, fixture="processorders_unprocessable")

    with pytest.raises(ProviderRejected) as caught:
        client.top_up(TOP_UP)

    assert type(caught.value) is ProviderRejected
    assert caught.value.status_code == 422
    assert "Bundle 'esim_1GB_7D_XX_V2' not found" in caught.value.message


def test_top_up_404_is_rejected_not_not_found(client, rsps):
    add_order(rsps, status=404, fixture="processorders_unprocessable")

    with pytest.raises(ProviderRejected) as caught:
        client.top_up(TOP_UP)

    assert not isinstance(caught.value, ProviderNotFound)


def test_top_up_failed_body_is_rejected(client, rsps):
    add_order(rsps, fixture="processorders_failed")

    with pytest.raises(ProviderRejected, match="Insufficient balance to complete the order"):
        client.top_up(TOP_UP)


def test_top_up_without_reference_is_an_unknown_outcome(client, rsps):
    add_order(rsps, fixture="processorders_no_reference")

    with pytest.raises(ProviderResponseInvalid):
        client.top_up(TOP_UP)


def test_top_up_with_unrecognised_status_is_an_unknown_outcome(client, rsps):
    add_order(rsps, body=json.dumps({"orderReference": "abc", "status": "Mystery"}))

    with pytest.raises(ProviderResponseInvalid, match="unrecognised status"):
        client.top_up(TOP_UP)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"body": requests.Timeout()}, ProviderTimeout),
        ({"status": 500, "fixture": "error_server"}, ProviderUnavailable),
        ({"status": 403, "fixture": "error_forbidden"}, ProviderAuthError),
    ],
)
def test_top_up_is_never_retried(client, rsps, kwargs, error):
    add_order(rsps, **kwargs)

    with pytest.raises(error):
        client.top_up(TOP_UP)

    assert len(rsps.calls) == 1


def test_find_top_up_reports_a_recent_assignment(client, rsps):
    rsps.add(responses.POST, BUNDLES, json=load("bundles_several"), match=iccid_body())
    request = TopUpRequest(
        iccid=ICCID, esim_reference=ICCID, bundle_code="esim_3GB_15D_TR_V2", order_reference="REN-1"
    )

    result = client.find_top_up(request, since=datetime(2025, 11, 12, 7, 0, tzinfo=UTC))

    assert result == TopUpResult(
        provider="travelroam", reference="9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b-0", message="ACTIVE"
    )


def test_find_top_up_ignores_older_assignments_and_other_bundles(client, rsps):
    rsps.add(responses.POST, BUNDLES, json=load("bundles_several"), match=iccid_body())

    # esim_1GB_7D_TR_V2 exists, but was assigned on 2 Nov, before `since`
    assert client.find_top_up(TOP_UP, since=datetime(2025, 11, 10, tzinfo=UTC)) is None


# --- staff tools and probe ---------------------------------------------------------------------------


def test_assignments_returns_iccid_and_profile_status_only(client, rsps):
    rsps.add(
        responses.GET,
        f"{BASE}/getesimassignments",
        json=load("getesimassignments"),
        match=[
            matchers.query_param_matcher({"orderReference": "0b6a1f2e"}),
            matchers.header_matcher({**AUTH, "Accept": "application/json"}),
        ],
    )

    rows = client.assignments("0b6a1f2e")

    assert rows == [{"iccid": ICCID, "profile_status": "Installed"}]
    assert "Content-Type" not in rsps.calls[0].request.headers


def test_probe_reads_one_catalogue_row(client, rsps):
    rsps.add(
        responses.POST,
        CATALOGUE,
        json=load("catalogue_single_unpaged"),
        match=[
            matchers.json_params_matcher({"page": 1, "perPage": 1}),
            matchers.header_matcher(JSON_HEADERS),
        ],
    )

    client.probe()

    assert len(rsps.calls) == 1


def test_probe_with_bad_keys_is_an_auth_error(client, rsps):
    rsps.add(responses.POST, CATALOGUE, status=403, json=load("error_forbidden"))

    with pytest.raises(ProviderAuthError):
        client.probe()


def test_every_lookup_carries_the_keys_without_a_login(rsps):
    """No token: two instances sharing one cache both send the static headers and never log in."""
    cache = MemoryCache()
    register_lookup(rsps)
    register_lookup(rsps)

    make_client(cache=cache).lookup(ICCID)
    make_client(cache=cache).lookup(ICCID)

    assert len(rsps.calls) == 6
    assert {call.request.url for call in rsps.calls} == {DETAILS, BUNDLES, LOCATION}
    assert all(call.request.headers["clientSecret"] == SECRET for call in rsps.calls)
