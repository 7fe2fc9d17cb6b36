"""The recording allow-list against what the clients really send (in-process sandbox, no Django)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from providers import airhub
from providers.airhub import AirHubClient
from providers.base import AIRHUB, ESIMCARD, PROVIDER_NAMES, TRAVELROAM, TopUpRequest
from providers.cache import MemoryCache
from providers.errors import ProviderError
from providers.esimcard import ESimCardClient
from providers.recording.allowlist import NEVER_RECORDED, READ_ONLY_ENDPOINTS, allowed_endpoint
from providers.recording.capture import Recorder, RecordingRefused
from providers.sandbox import DEMO_ICCIDS, SANDBOX_CREDENTIALS, build_world, mount_sandbox, sandbox_base_urls
from providers.travelroam import TravelRoamClient


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    """Shadows the repository-wide cache fixture: nothing here uses Django."""


@pytest.fixture
def world():
    return build_world()


def recorded_clients(world, recorder: Recorder) -> dict:
    urls = sandbox_base_urls()

    def session(name: str) -> requests.Session:
        http = requests.Session()
        mount_sandbox(http, world)
        recorder.attach(name, http, urls[name])
        return http

    creds = SANDBOX_CREDENTIALS
    return {
        AIRHUB: AirHubClient(
            base_url=urls[AIRHUB], **creds[AIRHUB], cache=MemoryCache(), session=session(AIRHUB)
        ),
        ESIMCARD: ESimCardClient(
            base_url=urls[ESIMCARD], **creds[ESIMCARD], cache=MemoryCache(), session=session(ESIMCARD)
        ),
        TRAVELROAM: TravelRoamClient(
            base_url=urls[TRAVELROAM], **creds[TRAVELROAM], cache=MemoryCache(), session=session(TRAVELROAM)
        ),
    }


def call_every_read(clients: dict) -> None:
    """Every read-only client method, over eSIMs each provider knows and one nobody knows."""
    since = datetime.now(UTC) - timedelta(days=365)
    for client in clients.values():
        client.probe()
        client.catalogue()
        client.wallet()
        for iccid in DEMO_ICCIDS.values():
            try:
                record = client.lookup(iccid)
            except ProviderError:
                continue
            if client.name == AIRHUB:
                client.find_top_up(TopUpRequest(iccid, record.reference, "", "r-1"), since=since)
            if client.name == ESIMCARD:
                with contextlib.suppress(ProviderError):  # the revoked demo eSIM says "not available"
                    client._check_top_up_available(iccid)
    with pytest.raises(ProviderError):
        clients[TRAVELROAM].assignments("no-such-order")


def test_every_read_the_clients_make_is_allow_listed_and_every_entry_is_used(world):
    recorder = Recorder()
    call_every_read(recorded_clients(world, recorder))
    assert recorder.refused == []
    used = {(name, raw.endpoint.name) for name in PROVIDER_NAMES for raw in recorder.raw(name)}
    listed = {
        (name, endpoint.name) for name, endpoints in READ_ONLY_ENDPOINTS.items() for endpoint in endpoints
    }
    assert used == listed  # nothing unlisted was sent, and no entry is stale


def top_up_requests(world) -> dict[str, TopUpRequest]:
    order = world.data.airhub_orders["4100100"]
    card_iccid = DEMO_ICCIDS["esimcard_partial_france"]
    card_sim = world.data.card_sims_by_iccid[card_iccid]
    package_id = next(iter(world.data.card_packages))
    bundle = next(iter(world.data.tr_bundles))
    return {
        AIRHUB: TopUpRequest(
            order.iccid,
            f"{order.order_id}|2025-01-01",
            "",
            "r-1",
            duration_days=7,
            amount=Decimal("10.00"),
        ),
        ESIMCARD: TopUpRequest(card_iccid, card_sim.id, package_id, "r-2", package_id=package_id),
        TRAVELROAM: TopUpRequest(DEMO_ICCIDS["travelroam_expired_turkey"], "", bundle, "r-3"),
    }


def test_top_ups_are_refused_before_they_leave_the_process(world):
    recorder = Recorder()
    clients = recorded_clients(world, recorder)
    for name, request in top_up_requests(world).items():
        with pytest.raises(RecordingRefused):
            clients[name].top_up(request)
    assert world.topups() == []  # the simulators never saw a purchase
    requests_seen = world.stats()["requests"]
    assert not any("InsertRenew" in path for path in requests_seen[AIRHUB])
    assert "/package/purchase" not in requests_seen[ESIMCARD]
    assert "/processorders" not in requests_seen[TRAVELROAM]
    assert sorted(recorder.refused) == sorted(
        f"{name}: {entry}"
        for name, entries in NEVER_RECORDED.items()
        for entry in entries
        if "logout" not in entry
    )


def test_no_write_is_on_the_allow_list():
    for name, entries in NEVER_RECORDED.items():
        for entry in entries:
            method, path = entry.split(" ", 1)
            assert allowed_endpoint(name, method, path) is None, entry
    assert allowed_endpoint(AIRHUB, "POST", airhub.RENEW_PATH) is None
    assert allowed_endpoint(ESIMCARD, "POST", "/package/purchase/async") is None
    assert allowed_endpoint(ESIMCARD, "GET", "/my-esims/a/b") is None  # {id} is one segment
    assert allowed_endpoint(ESIMCARD, "DELETE", "/my-esims/abc") is None


def test_requests_outside_the_base_url_are_refused(world):
    recorder = Recorder()
    http = requests.Session()
    mount_sandbox(http, world)
    urls = sandbox_base_urls()
    recorder.attach(AIRHUB, http, urls[AIRHUB])
    with pytest.raises(RecordingRefused):
        http.post(urls[ESIMCARD] + "/login", json={}, timeout=5)
    assert recorder.raw(AIRHUB) == []
    assert world.stats()["requests"][ESIMCARD] == {}
