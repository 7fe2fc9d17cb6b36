"""TravelRoam simulator: header auth, eSIM Go shapes, catalogue pagination and filters, orders."""

from __future__ import annotations

import uuid

import pytest

from providers.sandbox import DEMO_ICCIDS
from providers.sandbox.tests.helpers import Sandbox

ASSIGNMENT_KEYS = {
    "id", "assignmentReference", "callTypeGroup", "initialQuantity", "remainingQuantity", "assignmentDateTime",
    "startTime", "endTime", "bundleState", "unlimited",
}  # fmt: skip
BUNDLE_KEYS = {
    "name", "description", "groups", "countries", "roamingEnabled", "dataAmount", "duration", "speed",
    "autostart", "unlimited", "price", "billingType",
}  # fmt: skip


def _assignments(sandbox: Sandbox, iccid: str) -> list[dict]:
    bundles = sandbox.travelroam("/esims/applied/bundles", {"iccid": iccid}).json()["bundles"]
    return [assignment for bundle in bundles for assignment in bundle["assignments"]]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "sandbox-travelroam-key"},
        {"x-api-key": "wrong", "clientSecret": "sandbox-not-a-secret"},
    ],
)
def test_missing_or_wrong_keys_are_403(sandbox: Sandbox, headers: dict):
    response = sandbox.travelroam(
        "/esims/details", {"iccid": DEMO_ICCIDS["travelroam_expired_turkey"]}, headers=headers
    )
    assert response.status_code == 403
    assert response.json() == {"message": "Forbidden"}


def test_header_names_are_case_insensitive(sandbox: Sandbox):
    headers = {"X-API-KEY": "sandbox-travelroam-key", "Clientsecret": "sandbox-not-a-secret"}
    response = sandbox.travelroam(
        "/esims/details", {"iccid": DEMO_ICCIDS["travelroam_expired_turkey"]}, headers=headers
    )
    assert response.status_code == 200


def test_details_of_the_readme_esim(sandbox: Sandbox):
    payload = sandbox.travelroam("/esims/details", {"iccid": DEMO_ICCIDS["travelroam_expired_turkey"]}).json()
    assert payload["iccid"] == DEMO_ICCIDS["travelroam_expired_turkey"]
    assert payload["smdpAddress"] == "rsp-3104.idemia.io"
    assert payload["profileStatus"] == "Installed"
    assert payload["firstInstalledDateTime"] == 1762045260000
    assert payload["matchingId"]


def test_unknown_iccid_is_400_with_esim_go_message(sandbox: Sandbox):
    response = sandbox.travelroam("/esims/details", {"iccid": DEMO_ICCIDS["unknown_everywhere"]})
    assert response.status_code == 400
    assert response.json() == {"message": "The given ICCID is not found or permission not granted"}


def test_applied_bundles_in_decimal_bytes(sandbox: Sandbox):
    payload = sandbox.travelroam(
        "/esims/applied/bundles", {"iccid": DEMO_ICCIDS["travelroam_expired_turkey"]}
    ).json()
    [bundle] = payload["bundles"]
    assert (bundle["name"], bundle["description"]) == ("esim_1GB_7D_TR_V2", "eSIM, 1GB, 7 Days, Turkey, V2")
    [assignment] = bundle["assignments"]
    assert set(assignment) == ASSIGNMENT_KEYS
    assert (assignment["initialQuantity"], assignment["remainingQuantity"]) == (1_000_000_000, 0)
    assert (assignment["startTime"], assignment["endTime"]) == (
        "2025-11-02T01:01:00Z",
        "2025-11-09T01:01:00Z",
    )
    assert assignment["bundleState"] == "expired"


def test_depleted_and_queued_bundles(sandbox: Sandbox):
    [depleted] = _assignments(sandbox, DEMO_ICCIDS["travelroam_depleted_germany"])
    assert (depleted["bundleState"], depleted["remainingQuantity"]) == ("depleted", 0)
    [queued] = _assignments(sandbox, DEMO_ICCIDS["travelroam_queued_spain"])
    assert queued["bundleState"] == "queued"
    assert "startTime" not in queued
    assert "endTime" not in queued
    [greece] = _assignments(sandbox, DEMO_ICCIDS["airhub_and_travelroam_greece"])
    assert greece["initialQuantity"] - greece["remainingQuantity"] == 500_000_000


def test_location_shape(sandbox: Sandbox):
    payload = sandbox.travelroam(
        "/esims/location", {"iccid": DEMO_ICCIDS["travelroam_expired_turkey"]}
    ).json()
    assert payload["networkName"] == "AveaIletisim Hizmetleri A.S."
    assert (payload["networkBrandName"], payload["country"], payload["mobileNetworkCode"]) == (
        "Turk Telekom",
        "TR",
        "28603",
    )


def test_catalogue_paginates_by_50(sandbox: Sandbox):
    first = sandbox.travelroam("/catalogue", {}).json()
    assert first["rows"] >= 60
    assert first["pageSize"] == 50
    assert first["pageCount"] == 2
    assert len(first["bundles"]) == 50
    assert set(first["bundles"][0]) == BUNDLE_KEYS
    second = sandbox.travelroam("/catalogue", {"page": 2}).json()
    names = [b["name"] for b in first["bundles"] + second["bundles"]]
    assert len(names) == len(set(names)) == first["rows"]
    small = sandbox.travelroam("/catalogue", {"perPage": 10}).json()
    assert small["pageCount"] == -(-first["rows"] // 10)


def test_catalogue_country_filter_includes_traps_and_regional_bundles(sandbox: Sandbox):
    bundles = sandbox.travelroam("/catalogue", {"countries": "TR"}).json()["bundles"]
    by_name = {bundle["name"]: bundle for bundle in bundles}
    expected = {
        "esim_1GB_7D_TR_V2", "esim_1GB_7D_TR_U", "esim_3GB_15D_TR_V2", "esim_5GB_30D_TR_V2",
        "esim_11GB_7D_TR_V2", "esim_1GB_17D_TR_V2", "esim_3GB_30D_EUL_V2",
    }  # fmt: skip
    assert expected <= set(by_name)
    assert any(bundle["description"] == "" for bundle in bundles)
    assert by_name["esim_1GB_7D_TR_V2"]["price"] == 1.23
    assert by_name["esim_1GB_7D_TR_V2"]["dataAmount"] == 1000
    assert {c["iso"] for c in by_name["esim_3GB_30D_EUL_V2"]["countries"]} >= {
        "TR",
        "DE",
        "FR",
        "IT",
        "ES",
        "GR",
    }


def test_catalogue_description_and_region_filters(sandbox: Sandbox):
    unlimited = sandbox.travelroam("/catalogue", {"description": "Unlimited"}).json()["bundles"]
    assert [b["name"] for b in unlimited] == ["esim_ULP_7D_IT_V2"]
    assert (unlimited[0]["unlimited"], unlimited[0]["dataAmount"]) == (True, 0)
    wildcard = sandbox.travelroam("/catalogue", {"description": "*Greece*"}).json()["bundles"]
    assert "esim_2GB_10D_GR_V2" in {b["name"] for b in wildcard}
    asia = sandbox.travelroam("/catalogue", {"region": "asia"}).json()["bundles"]
    assert {b["countries"][0]["iso"] for b in asia} == {"JP"}


def test_bundle_details(sandbox: Sandbox):
    assert (
        sandbox.travelroam("/bundle", {"bundlename": "esim_1GB_7D_TR_V2"}).json()["name"]
        == "esim_1GB_7D_TR_V2"
    )
    assert sandbox.travelroam("/bundle", {"bundlename": "nope"}).status_code == 404


def test_process_order_queues_the_bundle_and_records_top_up(sandbox: Sandbox):
    iccid = DEMO_ICCIDS["travelroam_expired_turkey"]
    body = {"bundleName": "esim_1GB_7D_TR_V2", "orderType": "COUNTRY", "iccid": iccid}
    payload = sandbox.travelroam("/processorders", body).json()
    reference = payload["orderReference"]
    uuid.UUID(reference)
    assert (payload["status"], payload["currency"], payload["total"], payload["assigned"]) == (
        "Completed",
        "USD",
        1.23,
        True,
    )
    [item] = payload["order"]
    assert (item["item"], item["quantity"], item["iccids"]) == ("esim_1GB_7D_TR_V2", 1, [iccid])
    newest = _assignments(sandbox, iccid)[0]
    assert (newest["bundleState"], newest["assignmentReference"]) == ("queued", reference)
    [topup] = sandbox.world.topups("travelroam")
    assert (topup["iccid"], topup["item"], topup["reference"]) == (iccid, "esim_1GB_7D_TR_V2", reference)
    rows = sandbox.travelroam(f"/getesimassignments?orderReference={reference}", method="GET").json()
    assert rows == [
        {"iccid": iccid, "matchingId": "SBX00-DEMO0-TURKY-00001", "smdpAddress": "rsp-3104.idemia.io",
         "profileStatus": "Installed"}
    ]  # fmt: skip


def test_process_order_without_iccid_buys_a_new_esim(sandbox: Sandbox):
    payload = sandbox.travelroam(
        "/processorders", {"bundleName": "esim_2GB_10D_GR_V2", "orderType": "COUNTRY"}
    ).json()
    [new_iccid] = payload["order"][0]["iccids"]
    assert sandbox.travelroam("/esims/details", {"iccid": new_iccid}).json()["profileStatus"] == "Released"


@pytest.mark.parametrize(
    "body",
    [
        {
            "bundleName": "esim_nope",
            "orderType": "COUNTRY",
            "iccid": DEMO_ICCIDS["travelroam_expired_turkey"],
        },
        {
            "bundleName": "esim_1GB_7D_TR_V2",
            "orderType": "COUNTRY",
            "iccid": DEMO_ICCIDS["unknown_everywhere"],
        },
    ],
)
def test_process_order_refusals_are_422(sandbox: Sandbox, body: dict):
    response = sandbox.travelroam("/processorders", body)
    assert response.status_code == 422
    assert response.json()["message"]
    assert sandbox.world.topups() == []


def test_unknown_order_reference_is_404(sandbox: Sandbox):
    assert sandbox.travelroam("/getesimassignments?orderReference=nope", method="GET").status_code == 404
