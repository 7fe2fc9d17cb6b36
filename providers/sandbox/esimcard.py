"""eSIMCard reseller API simulator (providers.md §4). Base URL: ``<sandbox>/esimcard``.

A Laravel API: Sanctum bearer tokens, ``{"message": "Unauthenticated."}`` on 401, business refusals as HTTP 200
``{"status": false, "message": ...}``, validation errors as 422, pagination envelope ``{status, meta, data}``.
Quantities are binary units labelled GB/MB (10^9 bytes -> 0.9313 "GB"); unlimited -> "Unlimited".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from providers.sandbox.base import ProviderApp
from providers.sandbox.credentials import SANDBOX_CREDENTIALS
from providers.sandbox.filler import matching_id, random_uuid
from providers.sandbox.iccids import make_iccid
from providers.sandbox.models import CardPackage, CardPackageType, CardSim
from providers.sandbox.wsgi import Request, Response, json_response

if TYPE_CHECKING:
    pass

ESIMS_PER_PAGE = 20
BUNDLES_PER_PAGE = 15  # the spec shows both 15 and 20: clients must read meta.perPage
PACKAGES_PER_PAGE = 20
NEW_ESIM_PREFIX = "898804"  # eSIMs bought through the sandbox (purchase with an unknown imei)
RESELLER = {"id": 296, "name": "Sandbox Reseller"}


def _page_number(request: Request) -> int:
    try:
        return max(int(request.query.get("page", "1")), 1)
    except ValueError:
        return 1


def paginate(items: Sequence[Any], page: int, per_page: int, *, newest_first: bool) -> tuple[list[Any], dict]:
    """One page of ``items`` (stored oldest first) and Laravel-style ``meta``; O(per_page)."""
    total = len(items)
    meta = {
        "total": total,
        "perPage": per_page,
        "currentPage": page,
        "lastPage": max(math.ceil(total / per_page), 1),
    }
    if newest_first:
        end = total - (page - 1) * per_page
        chunk = list(items[max(end - per_page, 0) : end])[::-1] if end > 0 else []
    else:
        chunk = list(items[(page - 1) * per_page : page * per_page])
    return chunk, meta


def _validation_error(field: str) -> Response:
    message = f"The {field.replace('_', ' ')} field is required."
    return json_response({"message": message, "errors": {field: [message]}}, 422)


def _refusal(message: str) -> Response:
    return json_response({"status": False, "message": message})


class EsimCardApp(ProviderApp):
    name = "esimcard"

    def register(self) -> None:
        add = self.router.add
        add("POST", "/login", self.login, auth=False, writes=True)
        add("POST", "/logout", self.logout, writes=True)
        add("GET", "/my-esims", self.my_esims)
        add("GET", "/my-esims/{sim_id}", self.esim_detail)
        add("GET", "/my-sim/{sim_id}/usage", self.usage)
        add("GET", "/my-bundles", self.my_bundles)
        add("GET", "/packages", self.packages)
        add("GET", "/pricing", self.pricing)
        add("GET", "/balance", self.balance)
        add("POST", "/can-topup-esim", self.can_topup)
        add("POST", "/package/purchase", self.purchase, writes=True)

    def check_auth(self, request: Request) -> Response | None:
        return None if self.world.tokens.is_valid(self.name, request.bearer_token) else self.auth_error()

    def status_false(self) -> Response:
        return _refusal("Service temporarily unavailable")

    def rejected(self) -> Response:
        return _refusal("This package cannot be purchased right now (sandbox fault)")

    # --- auth ---------------------------------------------------------------------------------------

    def login(self, request: Request) -> Response:
        body = request.data()
        for field in ("email", "password"):
            if not body.get(field):
                return _validation_error(field)
        expected = SANDBOX_CREDENTIALS["esimcard"]
        if body["email"] != expected["email"] or body["password"] != expected["password"]:
            return json_response({"status": False, "message": "Invalid login details"}, 401)
        self.world.record_login(self.name)
        user = {**RESELLER, "email": expected["email"], "balance": float(self.world.data.card_balance)}
        token = self.world.tokens.issue(self.name)
        return json_response({"status": True, "access_token": token, "token_type": "Bearer", "user": user})

    def logout(self, request: Request) -> Response:
        self.world.tokens.revoke(self.name, request.bearer_token or "")
        return json_response({"status": True, "message": "Successfully logged out"})

    # --- eSIMs --------------------------------------------------------------------------------------

    def my_esims(self, request: Request) -> Response:
        sims, meta = paginate(
            self.world.data.card_sim_list, _page_number(request), ESIMS_PER_PAGE, newest_first=True
        )
        return json_response({"status": True, "meta": meta, "data": [sim.list_json() for sim in sims]})

    def _sim_or_404(self, sim_id: str) -> CardSim | Response:
        # Only the UUID works as path parameter; whether the live API accepts an ICCID is unverified.
        sim = self.world.data.card_sims.get(sim_id)
        if sim is None:
            return json_response({"status": False, "message": "eSIM not found"}, 404)
        return sim

    def esim_detail(self, request: Request, sim_id: str) -> Response:
        sim = self._sim_or_404(sim_id)
        if isinstance(sim, Response):
            return sim
        return json_response({"status": True, "data": sim.detail_json()})

    def usage(self, request: Request, sim_id: str) -> Response:
        sim = self._sim_or_404(sim_id)
        if isinstance(sim, Response):
            return sim
        current = _current_package(sim)
        if current is None:
            quantities = {
                "initial_data_quantity": 0,
                "initial_data_unit": "GB",
                "rem_data_quantity": 0,
                "rem_data_unit": "GB",
            }
        else:
            quantities = current.quantities()
        return json_response({"status": True, "data": quantities})

    def my_bundles(self, request: Request) -> Response:
        packages, meta = paginate(
            self.world.data.card_bundles, _page_number(request), BUNDLES_PER_PAGE, newest_first=True
        )
        return json_response({"status": True, "meta": meta, "data": [p.bundle_json() for p in packages]})

    # --- catalogue ----------------------------------------------------------------------------------

    def packages(self, request: Request) -> Response:
        wanted = request.query.get("package_type", "").upper()
        # Every sandbox package is DATA-ONLY, so a DATA-VOICE-SMS listing is empty.
        items = [p for p in self.world.data.card_packages.values() if wanted in ("", "DATA-ONLY")]
        chunk, meta = paginate(items, _page_number(request), PACKAGES_PER_PAGE, newest_first=False)
        return json_response({"status": True, "meta": meta, "data": [p.to_json() for p in chunk]})

    def pricing(self, request: Request) -> Response:
        countries: dict[str, dict[str, Any]] = {}
        for package in self.world.data.card_packages.values():
            entry = countries.setdefault(
                package.country_code,
                {"name": package.country_name, "code": package.country_code.lower(), "packages": []},
            )
            entry["packages"].append(package.to_json())
        return json_response({"status": True, "data": {"countries": list(countries.values())}})

    def balance(self, request: Request) -> Response:
        return json_response({"status": True, "balance": float(self.world.data.card_balance)})

    # --- top-up -------------------------------------------------------------------------------------

    def can_topup(self, request: Request) -> Response:
        imei = str(request.data().get("imei") or "").strip()
        if not imei:
            return _validation_error("imei")
        sim = self.world.data.card_sims_by_iccid.get(imei)
        if sim is None:
            return _refusal("eSIM not found")  # unverified: assumed a 200 business refusal
        return json_response({"status": True, "data": {"topup_available": sim.status != "Revoked"}})

    def purchase(self, request: Request) -> Response:
        """Instant variant of POST /package/purchase. An ``imei`` that is no known ICCID buys a NEW eSIM,
        as the live API does for device IMEIs - so a client sending a wrong ICCID gets charged for one."""
        body = request.data()
        for field in ("imei", "package_type_id"):
            if not body.get(field):
                return _validation_error(field)
        data = self.world.data
        package_type = data.card_packages.get(str(body["package_type_id"]))
        if package_type is None:
            return _refusal("Package not found")
        sim = data.card_sims_by_iccid.get(str(body["imei"]).strip())
        if sim is not None and sim.status == "Revoked":
            return _refusal("This eSIM cannot be topped up")
        price = Decimal(package_type.price)
        if data.card_balance < price:
            return _refusal("Insufficient Wallet Balance, please refill your wallet and try again")
        data.card_balance -= price
        sim = sim or self._new_sim()
        package = self._assign(sim, package_type)
        self.world.record_topup(self.name, sim.iccid, package_type.id, package.id, package_type.price)
        sim_json = {"id": sim.id, "iccid": sim.iccid, "status": sim.status}
        return json_response({"status": True, "data": {"sim_applied": True, "sim": sim_json}})

    def _new_sim(self) -> CardSim:
        data = self.world.data
        rng = data.rng
        sim = CardSim(
            id=random_uuid(rng),
            iccid=make_iccid(NEW_ESIM_PREFIX, data.next_number()),
            created_at=self.world.now(),
            status="Released",
            matching_id=matching_id(rng),
        )
        data.add_card_sim(sim)
        return sim

    def _assign(self, sim: CardSim, package_type: CardPackageType) -> CardPackage:
        """A purchased package waits in ``assigned_packages`` until the eSIM starts using it."""
        package = CardPackage(
            id=random_uuid(self.world.data.rng),
            package_type_id=package_type.id,
            name=package_type.name,
            initial_bytes=package_type.data_bytes,
            remaining_bytes=package_type.data_bytes,
            data_unit=package_type.data_unit,
            created_at=self.world.now(),
            activated_at=None,
            expires_at=None,
            bucket="assigned",
        )
        sim.packages.append(package)
        self.world.data.card_bundles.append(package)
        return package


def _current_package(sim: CardSim) -> CardPackage | None:
    """The package /usage reports: the one in use, else the newest one."""
    in_use = [package for package in sim.packages if package.bucket == "in_use"]
    if in_use:
        return in_use[-1]
    return sim.packages[-1] if sim.packages else None
