"""AirHub simulator (providers.md §2). Base URL: ``<sandbox>/airhub``.

AirHub is an ASP.NET API: routes and JSON property names are matched case-insensitively, business failures
come back as HTTP 200 with ``isSuccess: false``, and a bad bearer token gets an empty 401 (ASP.NET's JwtBearer
default). Shapes not confirmed by providers.md are marked "unverified" below.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from providers.sandbox.base import ProviderApp
from providers.sandbox.credentials import AIRHUB_PARTNER_CODE, SANDBOX_CREDENTIALS
from providers.sandbox.models import AirHubOrder, AirHubRenewal
from providers.sandbox.wsgi import Request, Response, Router, empty_response, json_response

if TYPE_CHECKING:
    from providers.sandbox.world import SandboxWorld

LAST_ORDERS = 300  # flag "1" returns the account's last 300 orders only
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y")


def _field(body: dict[str, Any], name: str) -> Any:
    """Case-insensitive JSON property lookup, like ASP.NET Core's default model binding."""
    if name in body:
        return body[name]
    lowered = name.lower()
    return next((value for key, value in body.items() if key.lower() == lowered), None)


def _failure(message: str, **extra: Any) -> Response:
    return json_response({"isSuccess": False, "message": message, **extra})


def parse_airhub_date(value: Any) -> date | None:
    """``YYYY-MM-DD`` (assumed; unverified), also ``DD/MM/YYYY`` and ISO datetimes."""
    text = str(value or "").strip()
    if not text:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC).date()
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text).date()
    except ValueError:
        return None


class AirHubApp(ProviderApp):
    name = "airhub"

    def __init__(self, world: SandboxWorld) -> None:
        super().__init__(world, Router(case_insensitive=True))

    def register(self) -> None:
        add = self.router.add
        add("POST", "/api/Authentication/UserLogin", self.login, auth=False, writes=True)
        add("POST", "/api/ESIM/GetOrderDetail", self.order_detail)
        add("POST", "/api/ESIM/GetActivationCode", self.activation_code)
        add("POST", "/api/ESIM/GetPlanInformation", self.plan_information)
        add("POST", "/api/Renew/InsertRenew", self.insert_renew, writes=True)
        add("POST", "/api/Renew/GetRenewData", self.renew_data)
        add("POST", "/api/ESIM/GetWallet", self.get_wallet)

    # --- provider-specific error bodies -------------------------------------------------------------

    def check_auth(self, request: Request) -> Response | None:
        if self.world.tokens.is_valid(self.name, request.bearer_token):
            return None
        return self.auth_error()

    def auth_error(self) -> Response:
        # ASP.NET Core JwtBearer answers an empty 401 with this challenge header.
        return empty_response(401, [("WWW-Authenticate", 'Bearer error="invalid_token"')])

    def status_false(self) -> Response:
        return _failure("Service temporarily unavailable. Please try again later.")

    def rejected(self) -> Response:
        return _failure("Renewal rejected by the provider (sandbox fault)")

    def not_found(self) -> Response:
        return empty_response(404)

    # --- endpoints ----------------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        body = request.data()
        expected = SANDBOX_CREDENTIALS["airhub"]
        if (
            _field(body, "userName") != expected["username"]
            or _field(body, "password") != expected["password"]
        ):
            # Failure shape unverified: modelled on the success shape with nulls.
            return _failure("Invalid username or password", token=None, data=None)
        self.world.record_login(self.name)
        token = self.world.tokens.issue(self.name)
        return json_response(
            {
                "isSuccess": True,
                "message": "Login successful",
                "token": token,
                "data": {"partnerCode": AIRHUB_PARTNER_CODE},
            }
        )

    def _partner_error(self, body: dict[str, Any], *, required: bool = True) -> Response | None:
        code = _field(body, "partnerCode")
        if code is None and not required:
            return None
        if str(code).strip() != str(AIRHUB_PARTNER_CODE):
            return _failure("Invalid partner code")
        return None

    def order_detail(self, request: Request) -> Response:
        body = request.data()
        if (error := self._partner_error(body)) is not None:
            return error
        flag = str(_field(body, "flag") or "").strip()
        data = self.world.data
        if flag == "1":
            orders = data.airhub_timeline[-LAST_ORDERS:][::-1]
        elif flag == "2":
            start = parse_airhub_date(_field(body, "fromDate"))
            end = parse_airhub_date(_field(body, "toDate"))
            if start is None or end is None:
                return _failure("fromDate and toDate are required for flag 2 (YYYY-MM-DD)")
            orders = data.airhub_between(
                datetime.combine(start, time.min, UTC),
                datetime.combine(end + timedelta(days=1), time.min, UTC),
            )
        else:
            return _failure("Invalid flag. Use 1 (last 300 orders) or 2 (date range)")
        return json_response(
            {"isSuccess": True, "message": "", "getOrderdetails": [order.to_json() for order in orders]}
        )

    def activation_code(self, request: Request) -> Response:
        body = request.data()
        if (error := self._partner_error(body)) is not None:
            return error
        requested = _field(body, "orderid") or []
        if not isinstance(requested, list):
            requested = [requested]
        orders = self.world.data.airhub_orders
        found = [orders[str(order_id)] for order_id in requested if str(order_id) in orders]
        if not found:
            return _failure("Order not found", getOrderdetails=[])
        # Envelope per the original's reader (list under getOrderdetails); isSuccess/message assumed.
        return json_response(
            {
                "isSuccess": True,
                "message": "",
                "getOrderdetails": [order.activation_json() for order in found],
            }
        )

    def plan_information(self, request: Request) -> Response:
        """Unverified shape (providers.md has the request only): ``{"isSuccess", "message", "data": [plans]}``.

        A recording settles it (GetPlanInformation, the catalogue step; docs/providers.md).
        """
        body = request.data()
        if (error := self._partner_error(body)) is not None:
            return error
        wanted = {str(code).upper() for code in (_field(body, "multiplecountrycode") or [])}
        if _field(body, "countryCode"):
            wanted.add(str(_field(body, "countryCode")).upper())
        plans = [
            plan.to_json()
            for plan in self.world.data.airhub_plans.values()
            if not wanted or plan.country_code in wanted
        ]
        return json_response({"isSuccess": True, "message": "", "data": plans})

    def insert_renew(self, request: Request) -> Response:
        """Unverified response shape: ``{"isSuccess", "message", "data": {"renewId", "orderId", ...}}``.

        Never recorded (a paid call): the first real renewal's answer settles it.
        """
        body = request.data()
        if (error := self._partner_error(body, required=False)) is not None:
            return error
        data = self.world.data
        order = data.airhub_orders.get(str(_field(body, "orderID") or "").strip())
        if order is None:
            return _failure("Order not found")
        try:
            amount = Decimal(str(_field(body, "userAmount")))
            days = int(_field(body, "renewalDays"))
        except (InvalidOperation, TypeError, ValueError):
            return _failure("Invalid userAmount or renewalDays")
        if amount <= 0 or days <= 0:
            return _failure("Invalid userAmount or renewalDays")
        plan_code = _field(body, "planCode")
        if plan_code and plan_code not in data.airhub_plans:
            return _failure("Invalid plan code")
        # The wallet pays the plan's wholesale price (what AirHub charges is unverified; the plan price
        # is the simulator's choice). Refusal wording unverified too: a common phrasing.
        cost = Decimal(data.airhub_plans[plan_code].price if plan_code else order.plan.price)
        if data.airhub_balance < cost:
            return _failure("Insufficient wallet balance. Please recharge your wallet to renew.")
        data.airhub_balance -= cost
        renewal = self._apply_renewal(order, plan_code, days, amount)
        return json_response(
            {
                "isSuccess": True,
                "message": "Renewal successful",
                "data": {
                    "renewId": renewal.renew_id,
                    "orderId": order.order_id,
                    "renewalDays": days,
                    "planCode": renewal.plan_code,
                },
            }
        )

    def _apply_renewal(
        self, order: AirHubOrder, plan_code: str | None, days: int, amount: Decimal
    ) -> AirHubRenewal:
        """A renewal restarts the order: new validity period, full data again, active."""
        data = self.world.data
        if plan_code:
            order.plan = data.airhub_plans[plan_code]
        order.validity_days = days
        order.consumed_bytes = 0
        order.is_active = True
        renewal = AirHubRenewal(
            renew_id=str(880000 + data.next_number()),
            order_id=order.order_id,
            iccid=order.iccid,
            user_amount=str(amount),
            renewal_days=days,
            plan_code=order.plan.plan_code,
            created_at=self.world.now(),
        )
        data.airhub_renewals.append(renewal)
        self.world.record_topup(self.name, order.iccid, order.order_id, renewal.renew_id, str(amount))
        return renewal

    def get_wallet(self, request: Request) -> Response:
        """Unverified shape (providers.md §2.2 names GetWallet only): ``{"isSuccess", "message",
        "data": {"walletBalance", "currency"}}``. A recording settles it (the wallet step)."""
        body = request.data()
        if (error := self._partner_error(body)) is not None:
            return error
        balance = float(self.world.data.airhub_balance)
        return json_response(
            {"isSuccess": True, "message": "", "data": {"walletBalance": balance, "currency": "USD"}}
        )

    def renew_data(self, request: Request) -> Response:
        """Unverified shape: ``{"isSuccess", "message", "data": [renewals, newest first]}``.

        A recording settles it (GetRenewData, the renewal_history step; docs/providers.md).
        """
        body = request.data()
        if (error := self._partner_error(body)) is not None:
            return error
        order_id = str(_field(body, "orderID") or "").strip()
        renewals = [
            renewal.to_json()
            for renewal in reversed(self.world.data.airhub_renewals)
            if not order_id or renewal.order_id == order_id
        ]
        return json_response({"isSuccess": True, "message": "", "data": renewals})
