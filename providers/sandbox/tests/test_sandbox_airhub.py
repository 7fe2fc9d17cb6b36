"""AirHub simulator: login, order list (flag 1 / flag 2), activation codes, plans and renewals."""

from __future__ import annotations

from datetime import timedelta

from providers.sandbox import DEMO_ICCIDS
from providers.sandbox.tests.helpers import PARTNER, TIMEOUT, Sandbox

ORDER_KEYS = {
    "orderId", "simID", "planName", "isActive", "purchaseDate", "vaildity", "capacity", "capacityUnit",
    "dataConsumed", "dataRemaining", "planCode", "countryCode",
}  # fmt: skip


def _orders(sandbox: Sandbox, **body: object) -> list[dict]:
    response = sandbox.airhub("/api/ESIM/GetOrderDetail", {"partnerCode": PARTNER, **body})
    assert response.status_code == 200
    payload = response.json()
    assert payload["isSuccess"] is True
    return payload["getOrderdetails"]


def test_login_returns_token_and_partner_code(sandbox: Sandbox):
    body = {"userName": "sandbox-airhub", "password": "sandbox-not-a-secret"}
    response = sandbox.session.post(
        f"{sandbox.urls['airhub']}/api/Authentication/UserLogin", json=body, timeout=5
    )
    payload = response.json()
    assert response.status_code == 200
    assert payload["isSuccess"] is True
    assert payload["message"] == "Login successful"
    assert payload["token"]
    assert payload["data"] == {"partnerCode": PARTNER}
    assert sandbox.world.stats()["logins"]["airhub"] == 1


def test_wrong_password_is_a_200_with_is_success_false(sandbox: Sandbox):
    body = {"userName": "sandbox-airhub", "password": "wrong"}
    response = sandbox.session.post(
        f"{sandbox.urls['airhub']}/api/Authentication/UserLogin", json=body, timeout=5
    )
    assert response.status_code == 200
    assert response.json() == {
        "isSuccess": False,
        "message": "Invalid username or password",
        "token": None,
        "data": None,
    }


def test_bad_bearer_token_gets_401(sandbox: Sandbox):
    response = sandbox.airhub("/api/ESIM/GetOrderDetail", {"partnerCode": PARTNER, "flag": "1"}, token="nope")
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_wrong_partner_code_is_refused(sandbox: Sandbox):
    response = sandbox.airhub("/api/ESIM/GetOrderDetail", {"partnerCode": 1, "flag": "1"})
    assert response.json() == {"isSuccess": False, "message": "Invalid partner code"}


def test_flag_1_lists_last_300_orders_newest_first_without_the_old_order(sandbox: Sandbox):
    orders = _orders(sandbox, flag="1", fromDate="", toDate="")
    assert len(orders) == 300
    assert set(orders[0]) == ORDER_KEYS
    dates = [order["purchaseDate"] for order in orders]
    assert dates == sorted(dates, reverse=True)
    by_iccid = {order["simID"]: order for order in orders}
    assert DEMO_ICCIDS["airhub_old_order_turkey"] not in by_iccid
    spain = by_iccid[DEMO_ICCIDS["airhub_active_spain"]]
    assert spain["orderId"].isdigit()
    assert (spain["planName"], spain["capacity"], spain["capacityUnit"]) == ("Spain 3GB 15 Days", "3", "GB")
    assert (spain["dataConsumed"], spain["dataRemaining"], spain["isActive"]) == ("1.25", "1.75", True)
    greece = by_iccid[DEMO_ICCIDS["airhub_and_travelroam_greece"]]
    assert (greece["dataConsumed"], greece["dataRemaining"]) == ("", "")


def test_flag_2_date_range_finds_the_old_order_in_each_date_format(sandbox: Sandbox):
    purchased = sandbox.world.data.created_at - timedelta(days=120)
    start, end = purchased - timedelta(days=1), purchased + timedelta(days=1)
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%Y-%m-%dT%H:%M:%S"):
        orders = _orders(sandbox, flag="2", fromDate=start.strftime(fmt), toDate=end.strftime(fmt))
        iccids = [order["simID"] for order in orders]
        assert DEMO_ICCIDS["airhub_old_order_turkey"] in iccids, fmt
    old = next(order for order in orders if order["simID"] == DEMO_ICCIDS["airhub_old_order_turkey"])
    assert old["planName"] == "Turkey 1GB 7 Days"
    assert old["isActive"] is False


def test_flag_2_without_dates_is_refused(sandbox: Sandbox):
    response = sandbox.airhub("/api/ESIM/GetOrderDetail", {"partnerCode": PARTNER, "flag": "2"})
    assert response.json()["isSuccess"] is False


def test_activation_code_is_an_lpa_string(sandbox: Sandbox):
    body = {"partnerCode": PARTNER, "orderid": ["4100100"]}
    payload = sandbox.airhub("/api/ESIM/GetActivationCode", body).json()
    assert payload["isSuccess"] is True
    [entry] = payload["getOrderdetails"]
    assert entry["orderId"] == "4100100"
    assert entry["activationCode"].startswith("LPA:1$")
    assert entry["apn"] == "internet"


def test_plan_information_filters_by_country(sandbox: Sandbox):
    body = {"partnerCode": PARTNER, "flag": "1", "countryCode": "GR"}
    payload = sandbox.airhub("/api/ESIM/GetPlanInformation", body).json()
    assert payload["isSuccess"] is True
    assert {plan["countryCode"] for plan in payload["data"]} == {"GR"}
    plan = next(plan for plan in payload["data"] if plan["planName"] == "Greece 2GB 10 Days")
    assert set(plan) >= {"planCode", "capacity", "capacityUnit", "validity", "price", "currency"}
    assert isinstance(plan["price"], str)


def test_insert_renew_resets_the_order_and_is_recorded(sandbox: Sandbox):
    body = {"userAmount": "10.00", "orderID": "4100100", "renewalDays": 7}
    payload = sandbox.airhub("/api/Renew/InsertRenew", body).json()
    assert payload["isSuccess"] is True
    renew_id = payload["data"]["renewId"]
    assert payload["data"]["orderId"] == "4100100"
    [topup] = sandbox.world.topups("airhub")
    assert (topup["iccid"], topup["item"], topup["reference"]) == (
        DEMO_ICCIDS["airhub_active_spain"],
        "4100100",
        renew_id,
    )
    order = next(o for o in _orders(sandbox, flag="1") if o["orderId"] == "4100100")
    assert (order["dataConsumed"], order["dataRemaining"], order["vaildity"]) == ("0", "3", "7")
    history = sandbox.airhub("/api/Renew/GetRenewData", {"partnerCode": PARTNER, "orderID": "4100100"}).json()
    assert [item["renewId"] for item in history["data"]] == [renew_id]


def test_insert_renew_for_unknown_order_fails_without_top_up(sandbox: Sandbox):
    body = {"userAmount": "10.00", "orderID": "999", "renewalDays": 7}
    assert sandbox.airhub("/api/Renew/InsertRenew", body).json() == {
        "isSuccess": False,
        "message": "Order not found",
    }
    assert sandbox.world.topups() == []


def test_routes_and_properties_are_case_insensitive_like_aspnet(sandbox: Sandbox):
    response = sandbox.airhub(
        "/api/esim/getorderdetail", {"PartnerCode": str(PARTNER), "FLAG": "1"}, timeout=TIMEOUT
    )
    assert response.json()["isSuccess"] is True
