"""TravelRoam client: an eSIM Go white label reached over TravelRoam's POST transport (providers.md §3).

No login: two static headers (`x-api-key`, `clientSecret`) go on every request, so a 401/403 is final
(ProviderAuthError, nothing to refresh). TravelRoam is keyed by ICCID, so the ICCID is also the
record's `reference`. Parsing lives in `providers.travelroam_parse`.

A lookup reads details and applied bundles (status and usage) every time; the network location (where
the eSIM last attached: the operator and country) changes rarely, so each process re-reads it at most
every `location_max_age` seconds (0: on every lookup).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import requests

from providers.base import (
    TRAVELROAM,
    BundleState,
    CatalogBundle,
    EsimRecord,
    StatusCode,
    TopUpRequest,
    TopUpResult,
    WalletBalance,
)
from providers.cache import CacheLike
from providers.concurrency import gather, gather_settled
from providers.errors import (
    ProviderNotFound,
    ProviderRejected,
    ProviderResponseInvalid,
    insufficient_funds_or_same,
)
from providers.http import DEFAULT_TIMEOUT, ProviderHttp
from providers.iccid import mask_iccid, normalize_iccid
from providers.recent import RecentValues
from providers.status import current_bundle, derive_status
from providers.travelroam_parse import (
    Details,
    catalogue_page,
    country_from_code,
    iter_assignments,
    parse_applied_bundles,
    parse_assignments,
    parse_catalog_bundle,
    parse_details,
    parse_location,
    parse_order,
)
from providers.units import parse_datetime
from providers.wallet_parse import parse_wallet

logger = logging.getLogger(__name__)

# eSIM Go answers an unknown or foreign ICCID with 400 {"message": ...} (providers.md §3.2).
_ICCID_NOT_FOUND = (400, 404)
# A runaway pageCount must not fan out into thousands of calls; eSIM Go catalogues are a few pages.
_MAX_CATALOGUE_PAGES = 200
# Unverified path (eSIM Go's GET /organisation); a recording settles it (the wallet step).
ORGANISATION_PATH = "organisation"

Location = tuple[str | None, str | None]  # (ISO2 country, "<operator> (<country>)")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class TravelRoamClient:
    name = TRAVELROAM

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        client_secret: str,
        cache: CacheLike,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        now: Callable[[], datetime] = _utc_now,
        currency: str = "USD",
        catalogue_page_size: int = 100,
        location_max_age: float = 300.0,
    ) -> None:
        self._http = ProviderHttp(self.name, base_url, session=session, timeout=timeout)
        self._api_key = api_key
        self._client_secret = client_secret
        self._cache = cache  # unused today (no token to share); kept for the uniform constructor
        self._now = now
        self.currency = currency.upper()
        self.catalogue_page_size = max(int(catalogue_page_size), 1)
        self._locations: RecentValues[Location] = RecentValues(
            max_age=location_max_age, clock=lambda: self._now().timestamp()
        )

    # --- transport ---------------------------------------------------------------------------------

    def _headers(self, *, with_body: bool = True) -> dict[str, str]:
        # Per request, never on the session: a session passed in may be shared with other clients.
        headers = {
            "x-api-key": self._api_key,
            "clientSecret": self._client_secret,
            "Accept": "application/json",
        }
        if with_body:
            headers["Content-Type"] = "application/json"
        return headers

    def _post(self, path: str, body: dict[str, Any], *, not_found: Iterable[int] = (404,)) -> Any:
        result = self._http.request(
            "POST", path, json_body=body, headers=self._headers(), not_found_statuses=not_found
        )
        return result.body

    # --- lookup ------------------------------------------------------------------------------------

    def lookup(self, iccid: str, reference: str | None = None, install_code: bool = False) -> EsimRecord:
        """Details, applied bundles and (unless read recently) location at once; `reference` is unused
        (the ICCID is the key). The details (with the matching id) are read on every lookup and never
        cached, so `install_code` changes nothing."""
        iccid = normalize_iccid(iccid)
        body = {"iccid": iccid}
        known_location = self._locations.get(iccid)
        # Reference: providers.md §3.2 "eSIM details", "Applied bundles", "Location / operator".
        calls = [
            lambda: self._post("esims/details", body, not_found=_ICCID_NOT_FOUND),
            lambda: self._post("esims/applied/bundles", body),
        ]
        if known_location is None:
            calls.append(lambda: self._post("esims/location", body))
        (details_body, details_error), bundles_settled, *location_settled = gather_settled(*calls)
        # The details call alone decides whether the eSIM exists, whatever the other two did.
        if details_error is not None:
            raise details_error
        details = parse_details(details_body)
        if not details.iccid:
            # eSIM Go says "unknown ICCID" with a 400; a 200 without any ICCID is a failed answer, not
            # absence (taking it as "not found" would forget where the eSIM lives for a transient fault).
            raise ProviderResponseInvalid(self.name, "esims/details answered without an iccid")
        if details.iccid != iccid:  # exact equality, never a substring (contract: ICCID matching)
            raise ProviderNotFound(self.name, "esims/details answered for another ICCID")
        bundles = self._bundles_or_none(iccid, *bundles_settled)
        location = known_location or self._location(iccid, *location_settled[0])
        return self._record(details, bundles, location)

    def _bundles_or_none(
        self, iccid: str, body: Any, error: BaseException | None
    ) -> tuple[BundleState, ...] | None:
        """None when usage is unknown: the eSIM is still reported, but with status UNKNOWN."""
        if error is None:
            try:
                return parse_applied_bundles(body)
            except ProviderResponseInvalid as exc:  # a malformed body counts as a failed call
                error = exc
        logger.warning(
            "travelroam applied bundles unavailable for %s (%s); status unknown",
            mask_iccid(iccid),
            getattr(error, "code", type(error).__name__),
            extra={"provider": self.name},
        )
        return None

    def _location(self, iccid: str, body: Any, error: BaseException | None) -> Location:
        if error is not None:
            # The location is decoration (operator name); the original swallowed it silently.
            logger.info(
                "travelroam location unavailable for %s (%s)",
                mask_iccid(iccid),
                getattr(error, "code", type(error).__name__),
                extra={"provider": self.name},
            )
            return None, None
        location = parse_location(body)
        self._locations.put(iccid, location)
        return location

    def _record(
        self,
        details: Details,
        bundles: tuple[BundleState, ...] | None,
        location: Location,
    ) -> EsimRecord:
        now = self._now()
        current = current_bundle(bundles or (), now)
        if bundles is None:
            # Do not fall back to the profile state: "Installed" would hide an expired plan.
            status = StatusCode.UNKNOWN
        else:
            status = derive_status(bundles, details.profile_status, now)
        country, network = location
        return EsimRecord(
            provider=self.name,
            iccid=details.iccid,
            reference=details.iccid,
            status=status,
            profile_status=details.profile_status,
            plan_name=(current.description or current.name) if current else None,
            plan_code=current.name if current else None,
            order_id=None,  # the original exposed matchingId here: it is the secret half of the LPA
            usage=current.usage if current else None,
            bundles=bundles or (),
            purchased_at=current.assigned_at if current else None,
            installed_at=details.installed_at,
            started_at=current.started_at if current else None,
            expires_at=current.expires_at if current else None,
            validity_days=_validity_days(current),
            country_code=country or country_from_code(current.name if current else None),
            smdp_address=details.smdp_address,
            matching_id=details.matching_id,
            activation_code=details.activation_code,
            apn=None,  # TravelRoam reports no APN; the original's "apn" was the operator (now `network`)
            network=network,
        )

    # --- catalogue ---------------------------------------------------------------------------------

    def catalogue(self, *, countries: Iterable[str] | None = None) -> list[CatalogBundle]:
        """Every bundle (all pages), optionally only those for the given ISO country codes."""
        filter_ = ",".join(sorted({c.strip().upper() for c in countries or () if c.strip()}))
        first_items, page_count = catalogue_page(self._catalogue_page(1, filter_))
        if page_count > _MAX_CATALOGUE_PAGES:
            logger.warning(
                "travelroam catalogue reports %d pages; reading %d", page_count, _MAX_CATALOGUE_PAGES
            )
            page_count = _MAX_CATALOGUE_PAGES
        # Page 1 tells how many pages there are; the rest are fetched at once. A failed page fails
        # the whole call: a silently partial catalogue would make bundles look unsellable.
        rest = gather(*(self._page_fetcher(page, filter_) for page in range(2, page_count + 1)))
        items = first_items + [item for page_items in rest for item in page_items]
        bundles = [parse_catalog_bundle(item, self.currency) for item in items]
        return [bundle for bundle in bundles if bundle is not None]

    def _page_fetcher(self, page: int, filter_: str) -> Callable[[], list[Any]]:
        return lambda: catalogue_page(self._catalogue_page(page, filter_))[0]

    def _catalogue_page(self, page: int, filter_: str) -> Any:
        body: dict[str, Any] = {"page": page, "perPage": self.catalogue_page_size}
        if filter_:
            body["countries"] = filter_  # eSIM Go: comma-separated ISO list
        # Reference: providers.md §3.2 "Catalogue" (eSIM Go GET /catalogue page/perPage semantics).
        return self._post("catalogue", body)

    # --- top-ups -----------------------------------------------------------------------------------

    def top_up(self, request: TopUpRequest) -> TopUpResult:
        """Queue `bundle_code` on the eSIM. Never retried: a timeout leaves the outcome unknown."""
        iccid = normalize_iccid(request.iccid)
        # `orderType: "COUNTRY"` and `bundleName` are copied from the original, which copied them from
        # another integration ("Match your working implementation"); TravelRoam documents neither.
        body = {"bundleName": request.bundle_code, "orderType": "COUNTRY", "iccid": iccid}
        # Reference: providers.md §3.2 "Process order (purchase / top-up)".
        # No not-found mapping: a 404 here is a rejected order (or a wrong path), never "unknown eSIM".
        try:
            result = parse_order(self._post("processorders", body, not_found=()))
        except ProviderRejected as exc:
            # eSIM Go answers an order the balance cannot pay with a 4xx "Insufficient balance ..."
            # (providers.md §3.2, [INFER]); that wording pauses sales.
            raise insufficient_funds_or_same(exc) from exc
        logger.info(
            "travelroam top-up %s of %s on %s: %s",
            request.order_reference,
            request.bundle_code,
            mask_iccid(iccid),
            result.state,
            extra={"provider": self.name, "order_id": request.order_reference},
        )
        return result

    def find_top_up(self, request: TopUpRequest, *, since: datetime) -> TopUpResult | None:
        """The assignment of `bundle_code` made at or after `since`, if the eSIM shows one."""
        body = {"iccid": normalize_iccid(request.iccid)}
        # Reference: providers.md §3.2 "Applied bundles" (eSIM Go lists the 15 most recent assignments).
        applied = self._post("esims/applied/bundles", body, not_found=_ICCID_NOT_FOUND)
        for bundle, assignment in iter_assignments(applied):
            if bundle.get("name") != request.bundle_code:
                continue
            assigned_at = parse_datetime(assignment.get("assignmentDateTime"))
            reference = assignment.get("assignmentReference") or assignment.get("id")
            if assigned_at is not None and assigned_at >= since and reference:
                state = str(assignment.get("bundleState") or "")
                return TopUpResult(provider=self.name, reference=str(reference), message=state)
        return None

    def assignments(self, order_reference: str) -> list[dict[str, str | None]]:
        """eSIMs of one order as {iccid, profile_status} (staff tools); matching ids are not returned."""
        # Reference: providers.md §3.2 "eSIM assignments" (GET, auth headers, no Content-Type).
        result = self._http.request(
            "GET",
            "getesimassignments",
            params={"orderReference": order_reference},
            headers=self._headers(with_body=False),
        )
        return parse_assignments(result.body)

    def wallet(self) -> WalletBalance:
        """The organisation's balance. Unverified: TravelRoam v1.6 recommends its "Organization Details"
        endpoint for the balance (providers.md §3.1) without naming the path here; eSIM Go's is
        `GET /organisation` -> {"organisations": [{"name", "currency", "balance", ...}]}, read over
        TravelRoam's transport (GET with both auth headers, like getesimassignments). A recording settles it."""
        # Reference: providers.md §3.1 (v1.6: "Organization Details" to check the balance)
        result = self._http.request(
            "GET", ORGANISATION_PATH, headers=self._headers(with_body=False), not_found_statuses=()
        )
        return parse_wallet(
            self.name, result.body, ORGANISATION_PATH, default_currency=self.currency, as_of=self._now()
        )

    def probe(self) -> None:
        """One catalogue row: cheap, and proves both keys (403 -> ProviderAuthError)."""
        # Reference: providers.md §3.2 "Catalogue".
        catalogue_page(self._post("catalogue", {"page": 1, "perPage": 1}))


def _validity_days(bundle: BundleState | None) -> int | None:
    """The bundle's duration from its code/description, else from its start and end times."""
    if bundle is None:
        return None
    if bundle.duration_days is not None:
        return bundle.duration_days
    if bundle.started_at and bundle.expires_at:
        return round((bundle.expires_at - bundle.started_at).total_seconds() / 86400)
    return None
