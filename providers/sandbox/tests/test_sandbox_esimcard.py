"""eSIMCard simulator: Sanctum auth, paginated listings, binary units, catalogue, top-up and balance."""

from __future__ import annotations

from collections.abc import Callable

from providers.sandbox import DEMO_ICCIDS, SandboxWorld, build_world
from providers.sandbox.tests.helpers import Sandbox

PACKAGE_KEYS = {
    "id", "package", "package_type_id", "initial_data_quantity", "initial_data_unit", "rem_data_quantity",
    "rem_data_unit", "date_activated", "date_expiry", "unlimited", "status",
}  # fmt: skip
CATALOGUE_KEYS = {
    "id", "name", "price", "data_quantity", "data_unit", "voice_quantity", "voice_unit", "sms_quantity",
    "package_validity", "package_validity_unit", "package_type", "unlimited",
}  # fmt: skip


def _sim_id(sandbox: Sandbox, iccid: str) -> str:
    return next(sim.id for sim in sandbox.world.data.card_sim_list if sim.iccid == iccid)


def _package_type_id(sandbox: Sandbox, name: str) -> str:
    return next(p.id for p in sandbox.world.data.card_packages.values() if p.name == name)


def test_login_shape(sandbox: Sandbox):
    payload = sandbox.session.post(
        f"{sandbox.urls['esimcard']}/login",
        json={"email": "sandbox@esimcard.invalid", "password": "sandbox-not-a-secret"},
        timeout=5,
    ).json()
    assert payload["status"] is True
    assert payload["token_type"] == "Bearer"
    number, _, opaque = payload["access_token"].partition("|")
    assert number.isdigit()
    assert opaque
    assert payload["user"]["id"] == 296
    assert payload["user"]["balance"] == 100


def test_wrong_login_is_401_invalid_login_details(sandbox: Sandbox):
    response = sandbox.session.post(
        f"{sandbox.urls['esimcard']}/login",
        json={"email": "sandbox@esimcard.invalid", "password": "x"},
        timeout=5,
    )
    assert response.status_code == 401
    assert response.json() == {"status": False, "message": "Invalid login details"}


def test_missing_or_bad_bearer_is_unauthenticated(sandbox: Sandbox):
    response = sandbox.session.get(f"{sandbox.urls['esimcard']}/my-esims", timeout=5)
    assert response.status_code == 401
    assert response.json() == {"message": "Unauthenticated."}
    assert sandbox.esimcard("GET", "/my-esims", token="1|forged").status_code == 401


def test_logout_invalidates_the_token(sandbox: Sandbox):
    token = sandbox.esimcard_login()
    assert sandbox.esimcard("POST", "/logout", token=token).json()["status"] is True
    assert sandbox.esimcard("GET", "/balance", token=token).status_code == 401


def test_my_esims_item_shape(sandbox: Sandbox):
    payload = sandbox.esimcard("GET", "/my-esims").json()
    assert payload["status"] is True
    assert payload["meta"] == {"total": 3, "perPage": 20, "currentPage": 1, "lastPage": 1}
    france = next(item for item in payload["data"] if item["iccid"] == DEMO_ICCIDS["esimcard_partial_france"])
    assert set(france) >= {
        "id",
        "iccid",
        "created_at",
        "last_bundle",
        "status",
        "total_bundles",
        "universal_link",
    }
    assert france["created_at"].endswith("Z")
    assert france["last_bundle"] == "eSIM, 5GB, 30 Days, France, Unthrottled"
    assert "carddata=LPA:1$" in france["universal_link"]


def test_my_esims_paginates_with_last_page(make_sandbox: Callable[[SandboxWorld], Sandbox]):
    sandbox = make_sandbox(build_world(extra_esims=45))
    first = sandbox.esimcard("GET", "/my-esims", params={"page": 1}).json()
    assert first["meta"] == {"total": 48, "perPage": 20, "currentPage": 1, "lastPage": 3}
    seen = []
    for page in range(1, first["meta"]["lastPage"] + 1):
        seen += [item["iccid"] for item in sandbox.esimcard("GET", f"/my-esims?page={page}").json()["data"]]
    assert len(seen) == len(set(seen)) == 48
    assert sandbox.esimcard("GET", "/my-esims?page=4").json()["data"] == []


def test_detail_buckets_and_binary_units(sandbox: Sandbox):
    sim_id = _sim_id(sandbox, DEMO_ICCIDS["esimcard_partial_france"])
    payload = sandbox.esimcard("GET", f"/my-esims/{sim_id}").json()
    data = payload["data"]
    assert set(data) == {
        "sim",
        "in_use_packages",
        "assigned_packages",
        "completed_packages",
        "revoked_packages",
    }
    assert data["sim"]["id"] == sim_id
    [package] = data["in_use_packages"]
    assert set(package) == PACKAGE_KEYS
    # 5e9 bytes and 3e9 bytes, expressed in GiB labelled "GB".
    assert (package["initial_data_quantity"], package["rem_data_quantity"]) == (4.6566, 2.794)
    assert package["status"] == "Active"
    assert len(package["date_expiry"]) == len("2025-06-23 07:38:46")


def test_unknown_uuid_is_404(sandbox: Sandbox):
    response = sandbox.esimcard("GET", "/my-esims/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json() == {"status": False, "message": "eSIM not found"}


def test_usage_reports_unlimited_as_strings(sandbox: Sandbox):
    sim_id = _sim_id(sandbox, DEMO_ICCIDS["esimcard_unlimited_italy"])
    data = sandbox.esimcard("GET", f"/my-sim/{sim_id}/usage").json()["data"]
    assert data["initial_data_quantity"] == data["rem_data_quantity"] == "Unlimited"


def test_my_bundles_has_no_iccid(sandbox: Sandbox):
    payload = sandbox.esimcard("GET", "/my-bundles").json()
    assert payload["meta"]["total"] == 3
    assert all("iccid" not in item for item in payload["data"])
    assert {"package", "date_created", "activated", "status"} <= set(payload["data"][0])


def test_packages_catalogue_and_pricing(sandbox: Sandbox):
    payload = sandbox.esimcard("GET", "/packages", params={"package_type": "DATA-ONLY", "page": 1}).json()
    assert payload["meta"]["perPage"] == 20
    item = payload["data"][0]
    assert set(item) == CATALOGUE_KEYS
    assert isinstance(item["price"], str)
    assert item["package_validity_unit"] == "Day"
    countries = sandbox.esimcard("GET", "/pricing").json()["data"]["countries"]
    france = next(country for country in countries if country["code"] == "fr")
    assert {p["name"] for p in france["packages"]} >= {"eSIM, 5GB, 30 Days, France, Unthrottled"}


def test_can_topup_is_false_for_a_revoked_esim(sandbox: Sandbox):
    ok = sandbox.esimcard("POST", "/can-topup-esim", json={"imei": DEMO_ICCIDS["esimcard_partial_france"]})
    assert ok.json() == {"status": True, "data": {"topup_available": True}}
    revoked = sandbox.esimcard(
        "POST", "/can-topup-esim", json={"imei": DEMO_ICCIDS["esimcard_revoked_france"]}
    )
    assert revoked.json()["data"]["topup_available"] is False


def test_purchase_adds_an_assigned_package_charges_balance_and_records_top_up(sandbox: Sandbox):
    iccid = DEMO_ICCIDS["esimcard_partial_france"]
    package_type_id = _package_type_id(sandbox, "eSIM, 10GB, 30 Days, France, Unthrottled")
    response = sandbox.esimcard(
        "POST", "/package/purchase", json={"imei": iccid, "package_type_id": package_type_id}
    )
    payload = response.json()
    assert payload["status"] is True
    assert payload["data"]["sim_applied"] is True
    assert payload["data"]["sim"]["iccid"] == iccid
    sim_id = payload["data"]["sim"]["id"]
    detail = sandbox.esimcard("GET", f"/my-esims/{sim_id}").json()["data"]
    [assigned] = detail["assigned_packages"]
    assert assigned["package_type_id"] == package_type_id
    assert sandbox.esimcard("GET", "/balance").json()["balance"] == 80.2
    [topup] = sandbox.world.topups("esimcard")
    assert (topup["iccid"], topup["item"], topup["reference"]) == (iccid, package_type_id, assigned["id"])


def test_purchase_refusals_are_http_200_status_false(sandbox: Sandbox):
    iccid = DEMO_ICCIDS["esimcard_partial_france"]
    unknown = sandbox.esimcard("POST", "/package/purchase", json={"imei": iccid, "package_type_id": "nope"})
    assert (unknown.status_code, unknown.json()) == (200, {"status": False, "message": "Package not found"})
    expensive = _package_type_id(sandbox, "eSIM, Unlimited, 15 Days, Italy")
    outcomes = [
        sandbox.esimcard(
            "POST", "/package/purchase", json={"imei": iccid, "package_type_id": expensive}
        ).json()
        for _ in range(4)
    ]
    assert [outcome["status"] for outcome in outcomes] == [True, True, True, False]
    assert outcomes[-1]["message"] == "Insufficient Wallet Balance, please refill your wallet and try again"
    assert len(sandbox.world.topups("esimcard")) == 3
