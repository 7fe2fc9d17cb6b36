"""One sandbox world for every process: the state file (``statefile.py``) behind ``build_world(state_path=...)``.

Two ``SandboxWorld`` objects on one file each hold their own SQLite connection and in-memory copy, exactly as
two processes do; the tests that need real OS processes (concurrent writers, fork, the CLI) start them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import select
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from providers.sandbox import (
    DEMO_ICCIDS,
    SANDBOX_CREDENTIALS,
    SandboxWorld,
    build_world,
    mount_sandbox,
    sandbox_base_urls,
)
from providers.sandbox import world as world_module
from providers.sandbox.statefile import StateFileError
from providers.sandbox.tests.helpers import PARTNER, Sandbox
from providers.sandbox.tests.shared_world_worker import (
    FRANCE,
    GERMANY_500MB,
    SECRET,
    TURKEY,
    place_topups,
)

ROOT = Path(__file__).resolve().parents[3]
TURKEY_ORDER = {"bundleName": "esim_1GB_7D_TR_V2", "iccid": TURKEY}


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "sandbox-world.sqlite3"


def shared(path: Path, **options) -> SandboxWorld:
    return build_world(state_path=path, state_secret=SECRET, **options)


def client(world: SandboxWorld) -> Sandbox:
    session = requests.Session()
    mount_sandbox(session, world)
    return Sandbox(world, session, sandbox_base_urls(), "inprocess")


def turkey_bundles(sandbox: Sandbox) -> list[str]:
    body = sandbox.travelroam("/esims/applied/bundles", {"iccid": TURKEY}).json()
    return [a["bundleState"] for bundle in body["bundles"] for a in bundle["assignments"]]


def test_a_topup_placed_through_one_world_is_seen_through_another(state_file: Path):
    first, second = client(shared(state_file)), client(shared(state_file))
    assert turkey_bundles(second) == ["expired"]  # attached and read before the other one writes

    order = first.travelroam("/processorders", TURKEY_ORDER).json()

    assert turkey_bundles(second) == ["queued", "expired"]
    assert [t["reference"] for t in second.world.topups()] == [order["orderReference"]]
    # And back: the second world writes on top of what the first one wrote.
    second.airhub("/api/Renew/InsertRenew", {"orderID": "4100100", "userAmount": "8.50", "renewalDays": 15})
    assert [t["provider"] for t in first.world.topups()] == ["travelroam", "airhub"]


def test_a_world_opened_later_attaches_to_the_existing_state_instead_of_resetting_it(state_file: Path):
    client(shared(state_file)).travelroam("/processorders", TURKEY_ORDER)
    later = client(shared(state_file))
    assert turkey_bundles(later) == ["queued", "expired"]
    assert len(later.world.topups()) == 1


def test_tokens_issued_in_one_world_are_valid_in_the_others(state_file: Path):
    first, second = client(shared(state_file)), client(shared(state_file))
    token = first.esimcard_login()
    assert second.esimcard("GET", "/balance", token=token).status_code == 200
    second.esimcard("POST", "/logout", token=token)
    assert first.esimcard("GET", "/balance", token=token).status_code == 401
    assert second.world.stats()["logins"]["esimcard"] == 1


def test_reset_through_one_world_resets_it_for_all(state_file: Path):
    first, second = client(shared(state_file)), client(shared(state_file))
    first.travelroam("/processorders", TURKEY_ORDER)
    token = first.esimcard_login()

    second.world.reset()

    assert first.world.topups() == []
    assert turkey_bundles(first) == ["expired"]
    assert first.esimcard("GET", "/balance", token=token).status_code == 401


def test_faults_and_latency_stay_with_the_world_that_set_them(state_file: Path):
    first, second = client(shared(state_file)), client(shared(state_file))
    first.world.set_fault("travelroam", "http_500")
    first.world.set_latency(5)
    assert first.travelroam("/esims/details", {"iccid": TURKEY}).status_code == 500
    assert second.travelroam("/esims/details", {"iccid": TURKEY}).status_code == 200
    assert second.world.faults() == []
    assert second.world.latency_ms == 0


def test_a_token_expired_fault_expires_the_shared_tokens(state_file: Path):
    first, second = client(shared(state_file)), client(shared(state_file))
    token = first.esimcard_login()
    second.world.set_fault("esimcard", "token_expired")
    assert first.esimcard("GET", "/balance", token=token).status_code == 401


def test_concurrent_writers_in_several_processes_lose_no_update(state_file: Path, tmp_path: Path):
    processes, count = 4, 5
    world = shared(state_file)
    assert len(world.topups()) == 0  # the file exists before the workers race for it
    go_file = tmp_path / "go"
    argv = [sys.executable, "-m", "providers.sandbox.tests.shared_world_worker"]
    workers = [
        subprocess.Popen(
            [*argv, str(state_file), str(count), str(go_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    go_file.touch()
    references = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        references += json.loads(out.strip().splitlines()[-1])

    total = processes * count
    topups = world.topups()
    assert len(topups) == 2 * total
    travelroam = [t["reference"] for t in topups if t["provider"] == "travelroam"]
    assert sorted(travelroam) == sorted(references)
    assert len(set(references)) == total
    assignments = world.data.tr_esims[TURKEY].assignments
    assert len(assignments) == 1 + total
    assert len({a.id for a in assignments}) == 1 + total  # the id counter was never read stale
    # A read-modify-write of the wallet in every purchase: a lost update would leave more money.
    assert world.data.card_balance == Decimal("100.00") - total * Decimal("1.99")
    assert len(world.data.card_sims_by_iccid[FRANCE].packages) == 1 + total


def _child_places_one_topup(state_file: str) -> None:
    world = world_module._default_worlds[str(Path(state_file).resolve())]
    place_topups(client(world), 1)
    os._exit(0)  # skip pytest's atexit handlers in the forked copy of this process


def test_a_forked_child_reconnects_and_its_writes_reach_the_parent(state_file: Path):
    world = world_module.get_default_world(state_file, state_secret=SECRET)  # opened before the fork
    try:
        assert world.topups() == []
        child = multiprocessing.get_context("fork").Process(
            target=_child_places_one_topup, args=(str(state_file),)
        )
        child.start()
        child.join(60)
        assert child.exitcode == 0
        assert [t["provider"] for t in world.topups()] == ["travelroam", "esimcard"]
    finally:
        world_module._default_worlds.pop(str(state_file.resolve()))


def test_the_standalone_server_serves_the_shared_world(state_file: Path):
    options = ["--port", "0", "--state", str(state_file), "--state-secret", SECRET]
    server = subprocess.Popen(
        [sys.executable, "-m", "providers.sandbox", *options],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], 30)
        assert ready, "the sandbox server printed no banner within 30 s"
        banner = server.stdout.readline()
        base_url = banner.split("listening on ")[1].split()[0]
        creds = SANDBOX_CREDENTIALS["travelroam"]
        headers = {"x-api-key": creds["api_key"], "clientSecret": creds["client_secret"]}
        url = f"{base_url}/travelroam/processorders"
        assert requests.post(url, json=TURKEY_ORDER, headers=headers, timeout=10).status_code == 200
        assert turkey_bundles(client(shared(state_file))) == ["queued", "expired"]
    finally:
        server.terminate()
        server.wait(10)


def test_the_state_file_is_readable_by_its_owner_only(state_file: Path):
    shared(state_file).topups()
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600


def test_a_file_written_with_another_secret_is_refused_without_unpickling(state_file: Path, monkeypatch):
    client(shared(state_file)).travelroam("/processorders", TURKEY_ORDER)
    other_key = build_world(state_path=state_file, state_secret="fake-another-secret")

    def refuse(*args, **kwargs):
        raise AssertionError("unpickled a payload that failed its HMAC")

    with monkeypatch.context() as patched:
        patched.setattr(pickle, "loads", refuse)
        with pytest.raises(StateFileError, match="integrity check"):
            other_key.topups()

    other_key.reset()  # the way out: a fresh world under the new key
    assert other_key.topups() == []
    with pytest.raises(StateFileError):
        shared(state_file).topups()


def test_a_file_written_by_code_of_another_shape_is_replaced_by_a_fresh_world(state_file: Path, monkeypatch):
    client(shared(state_file)).travelroam("/processorders", TURKEY_ORDER)
    monkeypatch.setattr(world_module, "state_fingerprint", lambda: "fake-other-shape")
    newer = client(shared(state_file))
    assert turkey_bundles(newer) == ["expired"]
    assert newer.world.topups() == []


def test_a_write_that_fails_halfway_is_rolled_back_everywhere(state_file: Path, monkeypatch):
    first, second = client(shared(state_file)), client(shared(state_file))

    def crash(*args, **kwargs):
        raise RuntimeError("fake crash after the bundle was queued")

    monkeypatch.setattr(first.world, "record_topup", crash)  # runs after process_order queued the bundle
    with pytest.raises(RuntimeError, match="fake crash"):
        first.travelroam("/processorders", TURKEY_ORDER)
    monkeypatch.undo()

    assert turkey_bundles(first) == ["expired"]  # its half-changed copy was dropped and read again
    assert turkey_bundles(second) == ["expired"]


# Every route that does not change the shared state, called once with a sensible request. A route missing
# here and not registered with writes=True fails the coverage test: classify each new route.
READ_CALLS = {
    ("airhub", "POST", "/api/ESIM/GetOrderDetail"): {"partnerCode": PARTNER, "flag": "1"},
    ("airhub", "POST", "/api/ESIM/GetActivationCode"): {"partnerCode": PARTNER, "orderid": ["4100100"]},
    ("airhub", "POST", "/api/ESIM/GetPlanInformation"): {"partnerCode": PARTNER, "countryCode": "ES"},
    ("airhub", "POST", "/api/Renew/GetRenewData"): {"partnerCode": PARTNER, "orderID": "4100100"},
    ("airhub", "POST", "/api/ESIM/GetWallet"): {"partnerCode": PARTNER},
    ("esimcard", "GET", "/my-esims"): None,
    ("esimcard", "GET", "/my-esims/{sim_id}"): None,
    ("esimcard", "GET", "/my-sim/{sim_id}/usage"): None,
    ("esimcard", "GET", "/my-bundles"): None,
    ("esimcard", "GET", "/packages"): None,
    ("esimcard", "GET", "/pricing"): None,
    ("esimcard", "GET", "/balance"): None,
    ("esimcard", "POST", "/can-topup-esim"): {"imei": FRANCE},
    ("travelroam", "POST", "/esims/details"): {"iccid": TURKEY},
    ("travelroam", "POST", "/esims/applied/bundles"): {"iccid": TURKEY},
    ("travelroam", "POST", "/esims/location"): {"iccid": TURKEY},
    ("travelroam", "POST", "/catalogue"): {"countries": "TR"},
    ("travelroam", "POST", "/bundle"): {"bundlename": "esim_1GB_7D_TR_V2"},
    ("travelroam", "GET", "/getesimassignments"): None,
    ("travelroam", "GET", "/organisation"): None,
    ("currencyfreaks", "GET", "/rates/latest"): None,
}


def test_every_route_is_either_a_writer_or_a_checked_reader():
    world = build_world()
    readers = {
        (name, route.method, route.pattern)
        for name, app in world._apps.items()
        for route in app.router.routes
        if not route.writes
    }
    assert readers == set(READ_CALLS)


def _resolve(sandbox: Sandbox, path: str) -> str:
    """The concrete path; for /getesimassignments an order is placed first (that part is a write)."""
    sim_id = next(s.id for s in sandbox.world.data.card_sim_list if s.iccid == FRANCE)
    if path == "/getesimassignments":
        order = sandbox.travelroam("/processorders", TURKEY_ORDER).json()
        return f"{path}?orderReference={order['orderReference']}"
    return path.replace("{sim_id}", sim_id)


def _call(sandbox: Sandbox, provider: str, method: str, path: str, body: dict | None) -> requests.Response:
    if provider == "airhub":
        return sandbox.airhub(path, body or {})
    if provider == "esimcard":
        return sandbox.esimcard(method, path, json=body) if body else sandbox.esimcard(method, path)
    if provider == "travelroam":
        return sandbox.travelroam(path, body, method=method)
    return sandbox.rates(base="EUR")


def _dump(world: SandboxWorld) -> bytes:
    return pickle.dumps(world._shared_state(), protocol=pickle.HIGHEST_PROTOCOL)


@pytest.mark.parametrize(("provider", "method", "path"), sorted(READ_CALLS))
def test_read_routes_leave_the_shared_state_unchanged(
    state_file: Path, provider: str, method: str, path: str
):
    sandbox = client(shared(state_file))
    sandbox.airhub_login()
    sandbox.esimcard_login()
    concrete = _resolve(sandbox, path)
    world = sandbox.world
    before, version = _dump(world), world._file.version()
    assert before == world._snapshot.payload  # the state as saved is the state in memory

    response = _call(sandbox, provider, method, concrete, READ_CALLS[(provider, method, path)])

    assert response.status_code == 200, response.text
    assert _dump(world) == before
    assert world._file.version() == version


def test_an_in_memory_world_has_no_state_file():
    world = build_world()
    assert world.state_path is None
    world.data.card_balance = Decimal("1.00")  # plain attribute access, as before
    assert world.data.card_balance == Decimal("1.00")


def test_edit_saves_direct_changes_for_every_world(state_file: Path):
    first, second = shared(state_file), shared(state_file)
    with first.edit():
        first.data.card_balance = Decimal("5.00")
    assert second.data.card_balance == Decimal("5.00")
    assert DEMO_ICCIDS["esimcard_partial_france"] in second.data.card_sims_by_iccid
    package = next(p for p in second.data.card_packages.values() if p.name == GERMANY_500MB)
    assert package.price == "1.99"
