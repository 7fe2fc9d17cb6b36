"""The world and its dataset: ICCID validity, determinism, scale, token TTL and the default world."""

from __future__ import annotations

import time
from collections.abc import Callable

from providers.sandbox import (
    DEMO_ICCIDS,
    SandboxWorld,
    build_world,
    get_default_world,
    reset_default_world,
)
from providers.sandbox.iccids import is_luhn_valid
from providers.sandbox.tests.helpers import PARTNER, Sandbox


def _all_iccids(world: SandboxWorld) -> list[str]:
    data = world.data
    return [
        *(order.iccid for order in data.airhub_orders.values()),
        *(sim.iccid for sim in data.card_sims.values()),
        *data.tr_esims,
    ]


def test_every_dataset_iccid_is_19_digits_and_luhn_valid():
    world = build_world(extra_esims=200, extra_orders=50)
    iccids = _all_iccids(world) + list(DEMO_ICCIDS.values())
    assert all(len(iccid) == 19 and is_luhn_valid(iccid) for iccid in iccids)
    # Only the one demo eSIM shared by AirHub and TravelRoam appears twice.
    duplicates = {iccid for iccid in _all_iccids(world) if _all_iccids(world).count(iccid) > 1}
    assert duplicates == {DEMO_ICCIDS["airhub_and_travelroam_greece"]}


def test_unknown_demo_iccid_is_known_by_no_provider():
    world = build_world()
    assert DEMO_ICCIDS["unknown_everywhere"] not in _all_iccids(world)


def test_filler_is_deterministic_per_seed():
    first, second, other = (
        build_world(extra_esims=20),
        build_world(extra_esims=20),
        build_world(extra_esims=20, seed=2),
    )
    ids = [sim.id for sim in first.data.card_sim_list]
    assert ids == [sim.id for sim in second.data.card_sim_list]
    assert ids != [sim.id for sim in other.data.card_sim_list]


def test_airhub_account_holds_more_than_300_orders():
    world = build_world(extra_orders=100)
    assert len(world.data.airhub_orders) == 3 + 330 + 100


def test_ten_thousand_esim_world_builds_and_lookups_work(
    make_sandbox: Callable[[SandboxWorld], Sandbox],
):
    # Build speed is measured by benchmarks/, not asserted here.
    world = build_world(extra_esims=10_000, extra_orders=10_000)
    sandbox = make_sandbox(world)
    meta = sandbox.esimcard("GET", "/my-esims").json()["meta"]
    assert (meta["total"], meta["lastPage"]) == (10_003, 501)
    last = sandbox.esimcard("GET", f"/my-esims?page={meta['lastPage']}").json()["data"]
    assert len(last) == 3
    detail = sandbox.esimcard("GET", f"/my-esims/{last[0]['id']}").json()["data"]
    assert detail["sim"]["iccid"] == last[0]["iccid"]
    filler_iccid = next(iccid for iccid in world.data.tr_esims if iccid.startswith("898803"))
    assert sandbox.travelroam("/esims/details", {"iccid": filler_iccid}).json()["iccid"] == filler_iccid
    orders = sandbox.airhub("/api/ESIM/GetOrderDetail", {"partnerCode": PARTNER, "flag": "1"}).json()
    assert len(orders["getOrderdetails"]) == 300


def test_token_ttl_expires_tokens(make_sandbox: Callable[[SandboxWorld], Sandbox]):
    sandbox = make_sandbox(build_world(token_ttl_seconds=0.2))
    token = sandbox.esimcard_login()
    assert sandbox.esimcard("GET", "/balance", token=token).status_code == 200
    time.sleep(0.25)
    assert sandbox.esimcard("GET", "/balance", token=token).status_code == 401


def test_reset_restores_dataset_and_counters():
    world = build_world()
    world.set_fault("airhub", "http_500")
    world.set_latency(50)
    world.data.card_balance = 0
    world.reset()
    assert world.faults() == []
    assert world.latency_ms == 0
    assert world.data.card_balance == 100
    assert world.stats()["requests"]["airhub"] == {}


def test_default_world_is_a_lazy_singleton_reset_in_place():
    world = get_default_world()
    assert get_default_world() is world
    world.set_fault("esimcard", "http_500")
    assert reset_default_world() is world
    assert world.faults() == []
