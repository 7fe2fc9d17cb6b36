"""AirHub client: outbound requests, parsing, ICCID search order, caching and error mapping."""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from providers.airhub import (
    ACTIVATION_PATH,
    LOGIN_PATH,
    ORDERS_PATH,
    PLANS_PATH,
    RENEW_DATA_PATH,
    RENEW_PATH,
    AirHubClient,
)
from providers.base import (
    BundleState,
    CatalogBundle,
    ProviderClient,
    StatusCode,
    TopUpRequest,
    TopUpResult,
    TopUpState,
    Usage,
)
from providers.cache import MemoryCache
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderInsufficientFunds,
    ProviderNotFound,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
)

BASE = "https://airhub.test"
USER = "partner@example.test"
PASSWORD = "fake-airhub-password"
PARTNER = 200000001
TOKEN = "fake-airhub-token-1"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FIXTURES = Path(__file__).parent / "fixtures" / "airhub"

ICCID_A = "8900000000000000001"  # active, in the recent orders
ICCID_B = "8900000000000000027"  # "SIM ID: " prefixed, inactive, empty usage
ICCID_D = "8900000000000000043"  # under the `iccid` key, remaining 0
ICCID_E = "8900000000000000050"  # only in the history (January)
ICCID_PART = "8900000000000000035"  # contained in order C's longer "89000000000000000350"
GB = 10**9


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


class Clock:
    def __init__(self, value: datetime = NOW) -> None:
        self.value = value

    def __call__(self) -> datetime:
        return self.value


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def make_client(cache: MemoryCache | None = None, now: Any = None, **options: Any) -> AirHubClient:
    options.setdefault("history_days", 0)  # most tests stop after the recent orders
    return AirHubClient(
        base_url=BASE,
        username=USER,
        password=PASSWORD,
        cache=cache if cache is not None else MemoryCache(),
        now=now or Clock(),
        **options,
    )


def add_login(rsps, token: str = TOKEN, **kwargs: Any) -> None:
    body = load("login_ok.json")
    body["token"] = token
    kwargs.setdefault("json", body)
    rsps.post(
        BASE + LOGIN_PATH,
        match=[matchers.json_params_matcher({"userName": USER, "password": PASSWORD})],
        **kwargs,
    )


def auth(token: str = TOKEN) -> Any:
    return matchers.header_matcher({"Authorization": f"Bearer {token}"})


def add_orders(
    rsps,
    fixture: str | None = "orders_recent.json",
    *,
    flag: str = "1",
    dates=("", ""),
    token=TOKEN,
    **kwargs,
):
    if fixture is not None:
        kwargs.setdefault("json", load(fixture))
    body = {"partnerCode": PARTNER, "flag": flag, "fromDate": dates[0], "toDate": dates[1]}
    rsps.post(BASE + ORDERS_PATH, match=[matchers.json_params_matcher(body), auth(token)], **kwargs)


def add_activation(
    rsps, order_id: str = "1234567", fixture: str | None = "activation_ok.json", *, token=TOKEN, **kwargs
):
    if fixture is not None:
        kwargs.setdefault("json", load(fixture))
    body = {"partnerCode": PARTNER, "orderid": [order_id]}
    rsps.post(BASE + ACTIVATION_PATH, match=[matchers.json_params_matcher(body), auth(token)], **kwargs)


def paths(rsps) -> list[str]:
    return [call.request.path_url for call in rsps.calls]


def bodies(rsps, path: str) -> list[dict[str, Any]]:
    return [json.loads(call.request.body) for call in rsps.calls if call.request.path_url == path]


# --- lookup: happy paths ---------------------------------------------------------------------------


def test_client_satisfies_the_protocol():
    assert isinstance(make_client(), ProviderClient)
    assert AirHubClient.name == "airhub"


def test_lookup_parses_an_active_order_with_activation_data(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)

    record = make_client().lookup(ICCID_A)

    assert paths(rsps) == [LOGIN_PATH, ORDERS_PATH, ACTIVATION_PATH]
    assert all(call.request.method == "POST" for call in rsps.calls)
    assert "Authorization" not in rsps.calls[0].request.headers
    usage = Usage(capacity_bytes=GB, consumed_bytes=250_000_000, remaining_bytes=750_000_000)
    assert record.provider == "airhub"
    assert record.iccid == ICCID_A
    assert record.reference == "1234567|2026-03-01"
    assert record.order_id == "1234567"
    assert record.plan_name == "Turkey 1GB 7 Days"
    assert record.plan_code == "AH-TR-1GB-7D"
    assert record.profile_status == "Active"
    assert record.status is StatusCode.ACTIVE
    assert record.purchased_at == datetime(2026, 3, 1, 9, 15, tzinfo=UTC)
    assert record.validity_days == 7
    assert record.usage == usage
    assert record.bundles == (
        BundleState(
            name="AH-TR-1GB-7D",
            description="Turkey 1GB 7 Days",
            state=StatusCode.ACTIVE,
            raw_state="Active",
            usage=usage,
            duration_days=7,
        ),
    )
    assert record.country_code == "TR"
    assert record.smdp_address == "rsp.example.net"
    assert record.matching_id == "ABCDEF123456"
    assert record.activation_code == "LPA:1$rsp.example.net$ABCDEF123456"
    assert record.apn == "internet"
    assert record.expires_at is None


def test_sim_id_prefix_spaces_and_dashes_are_stripped_from_airhubs_value(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps, "1234566")

    record = make_client().lookup("8900 0000 0000 0000 027")

    assert record.iccid == ICCID_B
    assert record.order_id == "1234566"
    assert record.reference == "1234566|2026-02-27"
    assert record.profile_status == "Inactive"
    assert record.status is StatusCode.NOT_ACTIVE
    # dataConsumed / dataRemaining are "" for an inactive eSIM: only the capacity is known.
    assert record.usage == Usage(capacity_bytes=3 * GB)
    assert record.plan_code is None
    assert record.bundles[0].name == "Europe 3GB 15 Days"
    assert record.bundles[0].state is StatusCode.NOT_ACTIVE
    assert record.country_code is None


def test_remaining_zero_is_depleted_and_consumed_is_computed(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps, "1234564")

    record = make_client().lookup(ICCID_D)

    assert record.usage == Usage(capacity_bytes=500_000_000, consumed_bytes=500_000_000, remaining_bytes=0)
    assert record.profile_status == "Active"
    assert record.status is StatusCode.DEPLETED


def test_a_longer_iccid_containing_the_searched_one_does_not_match(rsps):
    add_login(rsps)
    add_orders(rsps)  # holds 89000000000000000350, which contains ICCID_PART

    with pytest.raises(ProviderNotFound):
        make_client().lookup(ICCID_PART)
    assert paths(rsps) == [LOGIN_PATH, ORDERS_PATH]  # no activation call for the longer ICCID


def test_cached_index_serves_a_second_lookup_with_zero_http_calls(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)
    client = make_client()

    first = client.lookup(ICCID_A)
    calls = len(rsps.calls)
    second = client.lookup(ICCID_A)

    assert calls == 3
    assert len(rsps.calls) == 3
    # the cached activation part is the public one: the install code is only ever read from AirHub
    assert second == replace(first, matching_id=None, activation_code=None)
    assert (second.apn, second.smdp_address) == ("internet", "rsp.example.net")


def test_a_known_order_with_cached_activation_data_reads_that_entry_once(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)
    reads: Counter[str] = Counter()

    class CountingCache(MemoryCache):
        def get(self, key: str, default: Any = None) -> Any:
            reads[key] += 1
            return super().get(key, default)

    client = make_client(CountingCache())
    first = client.lookup(ICCID_A)
    reads.clear()

    again = client.lookup(ICCID_A, reference=first.reference)

    assert len(rsps.calls) == 3  # login, orders, activation: all from the first lookup
    assert again == replace(first, matching_id=None, activation_code=None)
    activation_reads = [count for key, count in reads.items() if "activation" in key]
    assert activation_reads == [1]


# --- lookup: search beyond the recent orders --------------------------------------------------------


def test_history_search_finds_an_order_only_in_the_second_window(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_orders(rsps, "orders_window_empty.json", flag="2", dates=("2026-02-08", "2026-03-10"))
    add_orders(rsps, "orders_window_hit.json", flag="2", dates=("2026-01-09", "2026-02-07"))
    activation = load("activation_ok.json")
    activation["getOrderdetails"][0]["orderId"] = "1100042"
    add_activation(rsps, "1100042", None, json=activation)

    record = make_client(history_days=60, history_window_days=31).lookup(ICCID_E)

    flag_two = [body for body in bodies(rsps, ORDERS_PATH) if body["flag"] == "2"]
    assert sorted(flag_two, key=lambda body: body["fromDate"], reverse=True) == [
        {"partnerCode": PARTNER, "flag": "2", "fromDate": "2026-02-08", "toDate": "2026-03-10"},
        {"partnerCode": PARTNER, "flag": "2", "fromDate": "2026-01-09", "toDate": "2026-02-07"},
    ]
    assert record.iccid == ICCID_E
    assert record.order_id == "1100042"
    assert record.reference == "1100042|2026-01-20"
    assert record.validity_days == 10
    assert record.activation_code == "LPA:1$rsp.example.net$ABCDEF123456"


def test_past_history_windows_are_cached_but_the_current_one_is_asked_again(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_orders(rsps, "orders_window_empty.json", flag="2", dates=("2026-02-08", "2026-03-10"))
    add_orders(rsps, "orders_window_empty.json", flag="2", dates=("2026-02-08", "2026-03-10"))
    add_orders(rsps, "orders_window_empty.json", flag="2", dates=("2026-01-09", "2026-02-07"))
    client = make_client(history_days=60, history_window_days=31)

    with pytest.raises(ProviderNotFound, match="last 60 days"):
        client.lookup(ICCID_E)
    calls = len(rsps.calls)
    with pytest.raises(ProviderNotFound):
        client.lookup(ICCID_E)

    assert calls == 4
    assert [body["fromDate"] for body in bodies(rsps, ORDERS_PATH)[calls - 1 :]] == ["2026-02-08"]


def test_a_failed_history_window_is_not_reported_as_not_found(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_orders(rsps, "orders_window_empty.json", flag="2", dates=("2026-02-08", "2026-03-10"))
    add_orders(rsps, None, flag="2", dates=("2026-01-09", "2026-02-07"), status=503)

    with pytest.raises(ProviderUnavailable):
        make_client(history_days=60, history_window_days=31).lookup(ICCID_E)


def test_reference_narrows_the_search_to_the_purchase_day_and_is_never_cached(rsps):
    add_login(rsps)
    add_orders(rsps)
    for _ in range(2):
        add_orders(rsps, "orders_window_hit.json", flag="2", dates=("2026-01-19", "2026-01-21"))
    add_activation(rsps, "1100042", "failure.json")
    add_activation(rsps, "1100042", "failure.json")  # not cached: a failed read is retried next time
    client = make_client(history_days=365)

    record = client.lookup(ICCID_E, reference="1100042|2026-01-20")
    client.lookup(ICCID_E, reference="1100042|2026-01-20")  # usage must be current: read again

    # The stored order id lets the activation data be read while the order is looked up.
    assert Counter(paths(rsps)) == Counter({ORDERS_PATH: 3, ACTIVATION_PATH: 2, LOGIN_PATH: 1})
    assert paths(rsps)[0] == LOGIN_PATH
    assert record.order_id == "1100042"


def test_a_hit_from_a_cached_history_window_rereads_current_usage(rsps):
    add_login(rsps)
    add_orders(rsps)
    for _ in range(2):
        add_orders(rsps, "orders_window_empty.json", flag="2", dates=("2026-02-08", "2026-03-10"))
    add_orders(rsps, "orders_window_hit.json", flag="2", dates=("2026-01-09", "2026-02-07"))
    used = load("orders_window_hit.json")
    used["getOrderdetails"][0].update(isActive=True, dataConsumed="0.5", dataRemaining="1.5")
    add_orders(rsps, None, flag="2", dates=("2026-01-19", "2026-01-21"), json=used)
    add_activation(rsps, "1100042", "activation_ok.json")
    clock = [NOW]
    client = make_client(now=lambda: clock[0], history_days=60, history_window_days=31)

    first = client.lookup(ICCID_E)
    clock[0] += timedelta(seconds=30)  # the history index is no longer "read just now"
    second = client.lookup(ICCID_E)

    assert first.status is StatusCode.NOT_ACTIVE
    assert second.status is StatusCode.ACTIVE
    assert second.usage == Usage(
        capacity_bytes=2 * GB, consumed_bytes=500_000_000, remaining_bytes=1_500_000_000
    )
    assert [body["fromDate"] for body in bodies(rsps, ORDERS_PATH)][-2:] == ["2026-02-08", "2026-01-19"]


def test_a_stale_index_is_refreshed_once_for_an_esim_just_bought(rsps):
    add_login(rsps)
    add_orders(rsps)
    just_bought = load("orders_recent.json")
    just_bought["getOrderdetails"].insert(0, dict(load("orders_window_hit.json")["getOrderdetails"][0]))
    add_orders(rsps, None, json=just_bought)
    add_activation(rsps)
    add_activation(rsps, "1100042", "failure.json")
    clock = Clock()
    client = make_client(now=clock)

    client.lookup(ICCID_A)
    clock.value = NOW + timedelta(seconds=10)
    record = client.lookup(ICCID_E)

    assert record.order_id == "1100042"
    assert [body["flag"] for body in bodies(rsps, ORDERS_PATH)] == ["1", "1"]


def test_a_fresh_index_is_not_refreshed_on_a_miss(rsps):
    add_login(rsps)
    add_orders(rsps)

    with pytest.raises(ProviderNotFound):
        make_client().lookup(ICCID_E)
    assert paths(rsps) == [LOGIN_PATH, ORDERS_PATH]


def test_no_record_found_answer_means_not_found(rsps):
    add_login(rsps)
    add_orders(rsps, "orders_no_record.json")

    with pytest.raises(ProviderNotFound):
        make_client().lookup(ICCID_A)


# --- lookup: activation data ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 500, "json": {"message": "Internal error"}},
        {"body": requests.Timeout()},
        {"json": load("failure.json")},
        {"json": {"isSuccess": True, "getOrderdetails": []}},
    ],
    ids=["http-500", "timeout", "is-success-false", "empty-list"],
)
def test_activation_failure_still_returns_the_record(rsps, caplog, failure):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps, fixture=None, **failure)

    with caplog.at_level(logging.WARNING, logger="providers.airhub"):
        record = make_client().lookup(ICCID_A)

    assert record.order_id == "1234567"
    assert record.status is StatusCode.ACTIVE
    assert (record.activation_code, record.apn, record.smdp_address, record.matching_id) == (None,) * 4
    assert "890000*********0001" in caplog.text
    assert ICCID_A not in caplog.text


@pytest.mark.parametrize(
    ("fixture", "code", "matching", "apn"),
    [
        ("activation_keyed.json", "LPA:1$rsp.example.net$KEYED000111", "KEYED000111", "wholesale"),
        ("activation_data.json", "LPA:1$rsp.example.net$DATA00022233", "DATA00022233", "internet"),
    ],
)
def test_activation_envelope_variants(rsps, fixture, code, matching, apn):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps, fixture=fixture)

    record = make_client().lookup(ICCID_A)

    assert record.activation_code == code
    assert record.smdp_address == "rsp.example.net"
    assert record.matching_id == matching
    assert record.apn == apn


def _cached_values(cache: MemoryCache) -> str:
    """Every value in the cache, as text (keys included), to search for secrets."""
    return repr(dict(cache._data))


def test_no_cache_entry_holds_the_activation_code_or_matching_id(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)
    cache = MemoryCache()
    client = make_client(cache)

    record = client.lookup(ICCID_A)
    client.lookup(ICCID_A)

    assert record.matching_id == "ABCDEF123456"  # read during the lookup: the record has it
    cached = _cached_values(cache)
    assert "rsp.example.net" in cached  # the public part is cached (the status answer shows it)
    assert "ABCDEF123456" not in cached
    assert "LPA:1$" not in cached
    assert paths(rsps).count(ACTIVATION_PATH) == 1


@pytest.mark.parametrize("reference", [None, "1234567|2026-03-01"])
def test_an_install_code_lookup_always_asks_airhub(rsps, reference):
    add_login(rsps)
    add_orders(rsps)
    for _ in range(3):
        add_activation(rsps)
    cache = MemoryCache()
    client = make_client(cache)
    client.lookup(ICCID_A)  # the public part is now cached

    first = client.lookup(ICCID_A, reference=reference, install_code=True)
    second = client.lookup(ICCID_A, reference=reference, install_code=True)

    assert paths(rsps).count(ACTIVATION_PATH) == 3
    assert first.activation_code == second.activation_code == "LPA:1$rsp.example.net$ABCDEF123456"
    assert "ABCDEF123456" not in _cached_values(cache)


def test_activation_data_cached_whole_by_an_older_version_is_deleted(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)
    cache = MemoryCache()
    client = make_client(cache)
    legacy = f"{client._prefix}:activation:1234567"
    cache.set(
        legacy, {"activation_code": "LPA:1$rsp.example.net$ABCDEF123456", "matching_id": "ABCDEF123456"}
    )

    client.lookup(ICCID_A)

    assert cache.get(legacy) is None
    assert "ABCDEF123456" not in _cached_values(cache)


def test_logs_carry_no_secrets(rsps, caplog):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)

    with caplog.at_level(logging.DEBUG):
        make_client().lookup(ICCID_A)

    for secret in (TOKEN, PASSWORD, USER, "ABCDEF123456", ICCID_A):
        assert secret not in caplog.text


# --- auth and tokens --------------------------------------------------------------------------------


def test_token_is_reused_across_lookups(rsps):
    add_login(rsps)
    add_orders(rsps)
    for order_id in ("1234567", "1234566", "1234564"):
        add_activation(rsps, order_id)
    client = make_client()

    for iccid in (ICCID_A, ICCID_B, ICCID_D):
        client.lookup(iccid)

    assert paths(rsps).count(LOGIN_PATH) == 1
    assert paths(rsps).count(ACTIVATION_PATH) == 3


def test_two_clients_sharing_a_cache_log_in_once(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)
    add_activation(rsps, "1234566")
    cache = MemoryCache()

    make_client(cache).lookup(ICCID_A)
    make_client(cache).lookup(ICCID_B)

    assert paths(rsps) == [LOGIN_PATH, ORDERS_PATH, ACTIVATION_PATH, ACTIVATION_PATH]


def test_401_logs_in_again_once_and_retries(rsps):
    add_login(rsps)
    add_orders(rsps, None, status=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    add_login(rsps, "fake-airhub-token-2")
    add_orders(rsps, token="fake-airhub-token-2")
    add_activation(rsps, token="fake-airhub-token-2")

    record = make_client().lookup(ICCID_A)

    assert record.order_id == "1234567"
    assert paths(rsps) == [LOGIN_PATH, ORDERS_PATH, LOGIN_PATH, ORDERS_PATH, ACTIVATION_PATH]


def test_401_twice_raises_auth_error(rsps):
    add_login(rsps)
    add_orders(rsps, None, status=401)
    add_login(rsps, "fake-airhub-token-2")
    add_orders(rsps, None, status=401, token="fake-airhub-token-2")

    with pytest.raises(ProviderAuthError):
        make_client().lookup(ICCID_A)
    assert paths(rsps).count(LOGIN_PATH) == 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (load("login_refused.json"), "Invalid username or password"),
        (
            {"isSuccess": True, "message": "Login successful", "data": {"partnerCode": PARTNER}},
            "Login successful",
        ),
    ],
    ids=["is-success-false", "no-token"],
)
def test_refused_login_raises_auth_error_without_the_password(rsps, body, message):
    add_login(rsps, json=body)

    with pytest.raises(ProviderAuthError, match=message) as caught:
        make_client().lookup(ICCID_A)
    assert PASSWORD not in str(caught.value)


def test_login_without_partner_code_is_invalid(rsps):
    add_login(rsps, json={"isSuccess": True, "token": TOKEN, "data": {}})

    with pytest.raises(ProviderResponseInvalid):
        make_client().probe()


def test_probe_logs_in_once(rsps):
    add_login(rsps)
    client = make_client()

    client.probe()
    client.probe()

    assert paths(rsps) == [LOGIN_PATH]


# --- transport and body errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error"),
    [
        ({"status": 404}, ProviderRejected),  # a wrong path, never "unknown ICCID"
        ({"status": 400, "json": {"isSuccess": False, "message": "Bad request"}}, ProviderRejected),
        ({"status": 500, "json": {"message": "Internal error"}}, ProviderUnavailable),
        ({"body": requests.Timeout()}, ProviderTimeout),
        ({"body": requests.ConnectionError()}, ProviderUnavailable),
        ({"body": "<html>maintenance</html>", "content_type": "text/html"}, ProviderResponseInvalid),
        ({"json": load("failure.json")}, ProviderRejected),
        ({"json": {"isSuccess": True, "message": "Success"}}, ProviderResponseInvalid),
    ],
    ids=["404", "400", "500", "timeout", "connection", "not-json", "is-success-false", "no-list"],
)
def test_order_list_errors_are_typed(rsps, response, error):
    add_login(rsps)
    add_orders(rsps, None, **response)

    with pytest.raises(ProviderError) as caught:
        make_client().lookup(ICCID_A)
    assert type(caught.value) is error


def test_rate_limit_carries_retry_after(rsps):
    add_login(rsps)
    add_orders(rsps, None, status=429, headers={"Retry-After": "7"})

    with pytest.raises(ProviderUnavailable) as caught:
        make_client().lookup(ICCID_A)
    assert caught.value.status_code == 429
    assert caught.value.retry_after == 7.0


def test_refusal_message_is_kept(rsps):
    add_login(rsps)
    add_orders(rsps, "failure.json")

    with pytest.raises(ProviderRejected, match="Invalid partner code"):
        make_client().lookup(ICCID_A)


# --- catalogue --------------------------------------------------------------------------------------


def test_catalogue_parses_plans_and_skips_incomplete_ones(rsps):
    add_login(rsps)
    rsps.post(
        BASE + PLANS_PATH,
        json=load("plans.json"),
        match=[matchers.json_params_matcher({"partnerCode": PARTNER, "flag": "1"}), auth()],
    )

    bundles = make_client().catalogue()

    assert bundles == [
        CatalogBundle(
            provider="airhub",
            code="AH-TR-1GB-7D",
            description="Turkey 1GB 7 Days",
            cost=Decimal("4.50"),
            currency="USD",
            countries=("TR",),
            data_bytes=GB,
            unlimited=False,
            duration_days=7,
            package_id="AH-TR-1GB-7D",
        ),
        CatalogBundle(
            provider="airhub",
            code="AH-EU-UNL-15D",
            description="Europe Unlimited 15 Days",
            cost=Decimal("29.00"),
            currency="USD",
            countries=("FR", "DE", "IT"),
            data_bytes=None,
            unlimited=True,
            duration_days=15,
            package_id="AH-EU-UNL-15D",
        ),
    ]


def test_catalogue_accepts_the_variant_keys(rsps):
    add_login(rsps)
    rsps.post(BASE + PLANS_PATH, json=load("plans_variant.json"))

    (bundle,) = make_client().catalogue()

    assert bundle == CatalogBundle(
        provider="airhub",
        code="501",
        description="Japan 500MB 3 Days",
        cost=Decimal("2.25"),
        currency="EUR",
        countries=("JP",),
        data_bytes=500_000_000,
        duration_days=3,
        package_id="501",
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [(load("failure.json"), ProviderRejected), ({"isSuccess": True}, ProviderResponseInvalid)],
)
def test_catalogue_failures(rsps, body, error):
    add_login(rsps)
    rsps.post(BASE + PLANS_PATH, json=body)

    with pytest.raises(error):
        make_client().catalogue()


# --- top-ups ----------------------------------------------------------------------------------------


def top_up_request(**changes: Any) -> TopUpRequest:
    values = {
        "iccid": ICCID_A,
        "esim_reference": "1234567|2026-03-01",
        "bundle_code": "AH-TR-1GB-7D",
        "order_reference": "RO-42",
        "duration_days": 7,
        "amount": Decimal("10"),
        "currency": "USD",
    }
    return TopUpRequest(**(values | changes))


RENEW_BODY = {"userAmount": "10.00", "orderID": "1234567", "renewalDays": 7}


def add_renew(rsps, token: str = TOKEN, expected: dict[str, Any] = RENEW_BODY, **kwargs: Any) -> None:
    rsps.post(
        BASE + RENEW_PATH,
        match=[matchers.json_params_matcher(expected, strict_match=True), auth(token)],
        **kwargs,
    )


def test_top_up_sends_the_documented_body_and_refreshes_the_index(rsps):
    add_login(rsps)
    add_orders(rsps)
    add_activation(rsps)
    add_renew(rsps, json=load("renew_ok.json"))
    add_orders(rsps)
    client = make_client()
    client.lookup(ICCID_A)

    result = client.top_up(top_up_request())
    client.lookup(ICCID_A)  # orders read again (usage changed); activation still cached

    assert result == TopUpResult("airhub", "880017", TopUpState.COMPLETED, "Renewal successful")
    assert paths(rsps) == [LOGIN_PATH, ORDERS_PATH, ACTIVATION_PATH, RENEW_PATH, ORDERS_PATH]


@pytest.mark.parametrize(("amount", "sent"), [("12.5", "12.50"), ("9.995", "10.00"), ("7", "7.00")])
def test_top_up_amount_is_sent_with_two_decimals(rsps, amount, sent):
    add_login(rsps)
    add_renew(
        rsps,
        expected={"userAmount": sent, "orderID": "1234567", "renewalDays": 15},
        json=load("renew_ok.json"),
    )

    make_client().top_up(top_up_request(amount=Decimal(amount), duration_days=15))


@pytest.mark.parametrize(
    ("body", "reference"),
    [
        ({"isSuccess": True, "renewId": "R-1"}, "R-1"),
        ({"isSuccess": True, "data": {"id": 99}}, "99"),
        ({"isSuccess": True, "data": {"orderId": "1234567"}}, "1234567"),
        ({"isSuccess": True, "message": "Renewed"}, "1234567:RO-42"),
    ],
)
def test_top_up_reference_variants(rsps, body, reference):
    add_login(rsps)
    add_renew(rsps, json=body)

    assert make_client().top_up(top_up_request()).reference == reference


@pytest.mark.parametrize(
    ("response", "error"),
    [
        # The fixture's refusal is "Insufficient wallet balance": typed so the sales guard pauses AirHub.
        ({"json": load("renew_refused.json")}, ProviderInsufficientFunds),
        ({"json": load("renew_no_flag.json")}, ProviderResponseInvalid),
        ({"body": requests.Timeout()}, ProviderTimeout),
        ({"status": 500, "json": {"message": "Internal error"}}, ProviderUnavailable),
        ({"status": 400, "json": {"message": "Invalid order"}}, ProviderRejected),
    ],
    ids=["is-success-false", "no-is-success", "timeout", "500", "400"],
)
def test_top_up_failures_are_typed_and_never_retried(rsps, response, error):
    add_login(rsps)
    add_renew(rsps, **response)

    with pytest.raises(ProviderError) as caught:
        make_client().top_up(top_up_request())
    assert type(caught.value) is error
    assert paths(rsps).count(RENEW_PATH) == 1


def test_top_up_refusal_keeps_the_message(rsps):
    add_login(rsps)
    add_renew(rsps, json=load("renew_refused.json"))

    with pytest.raises(ProviderRejected, match="Insufficient wallet balance"):
        make_client().top_up(top_up_request())


def test_top_up_401_logs_in_again_once(rsps):
    add_login(rsps)
    add_renew(rsps, status=401)
    add_login(rsps, "fake-airhub-token-2")
    add_renew(rsps, "fake-airhub-token-2", json=load("renew_ok.json"))

    assert make_client().top_up(top_up_request()).reference == "880017"
    assert paths(rsps) == [LOGIN_PATH, RENEW_PATH, LOGIN_PATH, RENEW_PATH]


def test_top_up_401_twice_raises_auth_error(rsps):
    add_login(rsps)
    add_renew(rsps, status=401)
    add_login(rsps, "fake-airhub-token-2")
    add_renew(rsps, "fake-airhub-token-2", status=401)

    with pytest.raises(ProviderAuthError):
        make_client().top_up(top_up_request())


@pytest.mark.parametrize(
    "changes",
    [{"amount": None}, {"duration_days": None}, {"amount": Decimal("0")}, {"esim_reference": "|2026-03-01"}],
)
def test_top_up_without_inputs_is_a_programming_error(rsps, changes):
    with pytest.raises(ValueError):
        make_client().top_up(top_up_request(**changes))
    assert len(rsps.calls) == 0


def add_renew_data(rsps, **kwargs: Any) -> None:
    body = {"partnerCode": PARTNER, "orderID": "1234567"}
    rsps.post(BASE + RENEW_DATA_PATH, match=[matchers.json_params_matcher(body), auth()], **kwargs)


def test_find_top_up_returns_a_renewal_since_the_attempt(rsps):
    add_login(rsps)
    add_renew_data(rsps, json=load("renew_data.json"))

    result = make_client().find_top_up(top_up_request(), since=NOW - timedelta(minutes=5))

    assert result == TopUpResult("airhub", "880017", TopUpState.COMPLETED, "found in renewal history")


@pytest.mark.parametrize(
    ("body", "since"),
    [
        (load("renew_data.json"), NOW + timedelta(minutes=1)),
        ({"isSuccess": False, "message": "No record found"}, NOW - timedelta(days=1)),
        (
            {
                "isSuccess": True,
                "data": [{"renewId": "9", "orderId": "7654321", "createdDate": "2026-03-10 11:59:00"}],
            },
            NOW - timedelta(days=1),
        ),
    ],
    ids=["older-only", "no-record", "other-order"],
)
def test_find_top_up_returns_none_without_a_matching_renewal(rsps, body, since):
    add_login(rsps)
    add_renew_data(rsps, json=body)

    assert make_client().find_top_up(top_up_request(), since=since) is None


@pytest.mark.parametrize(
    "body",
    [
        {"isSuccess": True, "message": "ok"},
        {"isSuccess": True, "data": [{"renewId": "9", "orderId": "1234567", "status": "Success"}]},
    ],
    ids=["no-list", "undated"],
)
def test_find_top_up_cannot_tell(rsps, body):
    add_login(rsps)
    add_renew_data(rsps, json=body)

    with pytest.raises(ProviderResponseInvalid):
        make_client().find_top_up(top_up_request(), since=NOW - timedelta(days=1))


@pytest.mark.parametrize("status", [404, 500])
def test_find_top_up_cannot_tell_when_the_renewal_history_is_not_answered(rsps, status):
    # A 404 is no proof of absence: GetRenewData is unverified (providers.md §2.2), so the path or the
    # order may be unknown to it. Answering None would let the reconciler top up a second time.
    add_login(rsps)
    add_renew_data(rsps, status=status, body="")

    with pytest.raises(ProviderError) as caught:
        make_client().find_top_up(top_up_request(), since=NOW - timedelta(days=1))

    assert caught.value.status_code == status
    if status == 404:
        assert "cannot tell whether the top-up happened" in caught.value.message
