"""TravelRoam white-label simulator (providers.md §3): eSIM Go v2 shapes over TravelRoam's POST transport.

Base URL: ``<sandbox>/travelroam``. Auth: static ``x-api-key`` + ``clientSecret`` headers on every call
(header names are case-insensitive); wrong or missing -> 403 ``{"message": "Forbidden"}``.
Usage quantities are decimal bytes (1 GB = 10^9), catalogue ``dataAmount`` is MB (1000 = 1 GB).
"""

from __future__ import annotations

import fnmatch
import math
from decimal import Decimal
from typing import Any

from providers.sandbox.base import ProviderApp
from providers.sandbox.credentials import SANDBOX_CREDENTIALS
from providers.sandbox.filler import matching_id, random_uuid
from providers.sandbox.iccids import make_iccid
from providers.sandbox.models import fmt_rfc3339
from providers.sandbox.travelroam_models import TrAssignment, TrBundle, TrEsim, TrOrder
from providers.sandbox.wsgi import Request, Response, json_response

DEFAULT_PER_PAGE = 50  # eSIM Go's default catalogue page size
MAX_PER_PAGE = 500
NEW_ESIM_PREFIX = "898805"  # eSIMs bought through the sandbox (processorders without iccid)
ICCID_NOT_FOUND = "The given ICCID is not found or permission not granted"


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _matches(bundle: TrBundle, countries: set[str], region: str, description: str) -> bool:
    if countries and not countries & {country.iso for country in bundle.countries}:
        return False
    if region and not any(country.region.lower() == region for country in bundle.countries):
        return False
    if not description:
        return True
    text = bundle.description.lower()
    # eSIM Go documents a wildcard search on description; plain text is a substring search.
    return fnmatch.fnmatchcase(text, description) if "*" in description else description in text


class TravelRoamApp(ProviderApp):
    name = "travelroam"

    def register(self) -> None:
        add = self.router.add
        add("POST", "/esims/details", self.details)
        add("POST", "/esims/applied/bundles", self.applied_bundles)
        add("POST", "/esims/location", self.location)
        add("POST", "/catalogue", self.catalogue)
        add("POST", "/bundle", self.bundle)
        add("POST", "/processorders", self.process_order, writes=True)
        add("GET", "/getesimassignments", self.assignments)
        add("GET", "/organisation", self.organisation)

    def check_auth(self, request: Request) -> Response | None:
        expected = SANDBOX_CREDENTIALS["travelroam"]
        if request.header("x-api-key") == expected["api_key"] and (
            request.header("clientsecret") == expected["client_secret"]
        ):
            return None
        return self.auth_error()

    def auth_error(self) -> Response:
        return json_response({"message": "Forbidden"}, 403)

    def server_error(self) -> Response:
        return json_response({"message": "Internal server error"}, 500)

    # --- eSIM lookups -------------------------------------------------------------------------------

    def _esim_or_400(self, request: Request) -> TrEsim | Response:
        iccid = str(request.data().get("iccid") or "").strip()
        if not iccid:
            return json_response({"message": "iccid is required"}, 400)
        esim = self.world.data.tr_esims.get(iccid)
        # eSIM Go answers an unknown or foreign ICCID with 400, not 404 (providers.md §3.2).
        return esim if esim is not None else json_response({"message": ICCID_NOT_FOUND}, 400)

    def details(self, request: Request) -> Response:
        esim = self._esim_or_400(request)
        return esim if isinstance(esim, Response) else json_response(esim.details_json())

    def applied_bundles(self, request: Request) -> Response:
        esim = self._esim_or_400(request)
        return esim if isinstance(esim, Response) else json_response(esim.bundles_json())

    def location(self, request: Request) -> Response:
        """Unverified: an eSIM never seen on a network answers ``{}`` (a recording of /esims/location settles it)."""
        esim = self._esim_or_400(request)
        return esim if isinstance(esim, Response) else json_response(dict(esim.location or {}))

    # --- catalogue ----------------------------------------------------------------------------------

    def catalogue(self, request: Request) -> Response:
        body = {**request.query, **request.data()}
        countries = body.get("countries") or ""
        if isinstance(countries, str):
            countries = countries.split(",")
        wanted = {str(code).strip().upper() for code in countries if str(code).strip()}
        region = str(body.get("region") or "").strip().lower()
        description = str(body.get("description") or "").strip().lower()
        rows = [b for b in self.world.data.tr_bundles.values() if _matches(b, wanted, region, description)]
        per_page = min(max(_int(body.get("perPage"), DEFAULT_PER_PAGE), 1), MAX_PER_PAGE)
        page = max(_int(body.get("page"), 1), 1)
        chunk = rows[(page - 1) * per_page : page * per_page]
        return json_response(
            {
                "bundles": [bundle.to_json() for bundle in chunk],
                "pageCount": math.ceil(len(rows) / per_page),
                "rows": len(rows),
                "pageSize": per_page,
            }
        )

    def bundle(self, request: Request) -> Response:
        name = str(request.data().get("bundlename") or "").strip()
        if not name:
            return json_response({"message": "bundlename is required"}, 400)
        found = self.world.data.tr_bundles.get(name)
        if found is None:
            return json_response({"message": f"Bundle {name} not found"}, 404)
        return json_response(found.to_json())

    # --- orders -------------------------------------------------------------------------------------

    def process_order(self, request: Request) -> Response:
        """Shape by analogy with eSIM Go's order response (providers.md §3.2; unverified).

        With ``iccid`` the bundle is queued on that eSIM (a top-up); without it a new eSIM is bought.
        The new assignment's ``assignmentReference`` is the ``orderReference``, so a reconciler can find it.
        """
        body = request.data()
        data = self.world.data
        bundle = data.tr_bundles.get(str(body.get("bundleName") or "").strip())
        if bundle is None:
            return json_response({"message": f"Bundle {body.get('bundleName')!r} not found"}, 422)
        iccid = str(body.get("iccid") or "").strip()
        if iccid and iccid not in data.tr_esims:
            return json_response({"message": ICCID_NOT_FOUND}, 422)
        price = Decimal(f"{bundle.price:.2f}")
        if data.tr_balance < price:  # eSIM Go style 422 validation failure (providers.md §3.2, [INFER])
            return json_response({"message": "Insufficient balance to complete the order"}, 422)
        data.tr_balance -= price
        esim = data.tr_esims[iccid] if iccid else self._new_esim()
        reference = random_uuid(data.rng)
        self._queue(esim, bundle, reference)
        now = self.world.now()
        data.tr_orders[reference] = TrOrder(reference, bundle, [esim.iccid], now)
        self.world.record_topup(self.name, esim.iccid, bundle.name, reference, f"{bundle.price:.2f}")
        item = {
            "type": "bundle",
            "item": bundle.name,
            "quantity": 1,
            "pricePerUnit": bundle.price,
            "subTotal": bundle.price,
            "iccids": [esim.iccid],
        }
        return json_response(
            {
                "orderReference": reference,
                "status": "Completed",
                "statusMessage": "Order completed: 1 bundles assigned",
                "total": bundle.price,
                "currency": "USD",
                "createdDate": fmt_rfc3339(now),
                "assigned": True,
                "order": [item],
            }
        )

    def _new_esim(self) -> TrEsim:
        data = self.world.data
        esim = TrEsim(
            iccid=make_iccid(NEW_ESIM_PREFIX, data.next_number()),
            matching_id=matching_id(data.rng),
            profile_status="Released",
        )
        data.add_tr_esim(esim)
        return esim

    def _queue(self, esim: TrEsim, bundle: TrBundle, reference: str) -> None:
        data = self.world.data
        esim.assignments.append(
            TrAssignment(
                id=str(217_000_000 + data.next_number()),
                reference=reference,
                bundle_name=bundle.name,
                description=bundle.description,
                initial_bytes=bundle.data_bytes,
                remaining_bytes=bundle.data_bytes,
                assigned_at=self.world.now(),
                start_at=None,
                end_at=None,
                state="queued",
                unlimited=bundle.unlimited,
            )
        )

    def organisation(self, request: Request) -> Response:
        """eSIM Go's ``GET /organisation`` shape (TravelRoam's "Organization Details"; unverified path)."""
        organisation = {
            "name": "Sandbox Reseller",
            "currency": "USD",
            "balance": float(self.world.data.tr_balance),
            "taxable": False,
        }
        return json_response({"organisations": [organisation]})

    def assignments(self, request: Request) -> Response:
        reference = request.query.get("orderReference", "").strip()
        if not reference:
            return json_response({"message": "orderReference is required"}, 400)
        order = self.world.data.tr_orders.get(reference)
        if order is None:
            return json_response({"message": "Order not found"}, 404)
        esims = self.world.data.tr_esims
        return json_response([esims[iccid].assignment_json() for iccid in order.iccids])
