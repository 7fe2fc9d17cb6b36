"""eSIMCard reseller API client (providers.md §4): lookups, catalogue and top-ups.

eSIMCard has no lookup by ICCID: the documented per-eSIM endpoints take the eSIM UUID. A lookup with
a stored `reference` (that UUID) goes straight to them; otherwise an ICCID -> UUID index, built by
paging GET /my-esims and kept in the shared cache, finds the UUID without a list scan per lookup.
Parsing lives in `providers.esimcard_parse`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any
from urllib.parse import quote

import requests

from providers.base import ESIMCARD, CatalogBundle, EsimRecord, TopUpRequest, TopUpResult, WalletBalance
from providers.cache import CacheLike
from providers.concurrency import gather, gather_settled
from providers.errors import (
    ProviderAuthError,
    ProviderNotFound,
    ProviderRejected,
    ProviderResponseInvalid,
    ProviderTimeout,
    ProviderUnavailable,
    insufficient_funds_or_same,
)
from providers.esimcard_index import CardIndex, ListPage
from providers.esimcard_parse import (
    build_record,
    catalogue_bundle,
    check_answer,
    data_dict,
    matching_top_up,
    pricing_packages,
    purchase_result,
    sim_iccid,
)
from providers.http import ProviderHttp
from providers.iccid import mask_iccid, normalize_iccid
from providers.tokens import TokenStore, call_with_token, credential_key
from providers.wallet_parse import parse_wallet

logger = logging.getLogger(__name__)

# A lastPage beyond this (200,000 eSIMs at 20 a page) is a broken meta, not a real account.
_MAX_PAGES = 10_000
_CATALOGUE_TYPE = {"package_type": "DATA-ONLY"}


def _pages_for(meta: object) -> int:
    """The most pages the meta can honestly claim: total / perPage when given, else the sanity cap."""
    try:
        total, per_page = int(meta["total"]), int(meta["perPage"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return _MAX_PAGES
    if per_page <= 0:
        return _MAX_PAGES
    return min(_MAX_PAGES, max(1, -(-total // per_page)))


def _total(meta: object) -> int | None:
    try:
        return int(meta["total"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return None


class ESimCardClient:
    """One eSIMCard reseller account. Thread-safe; build once and share."""

    name = ESIMCARD

    def __init__(
        self,
        *,
        base_url: str,
        email: str,
        password: str,
        cache: CacheLike,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (3.05, 10.0),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        currency: str = "USD",
        index_max_age: float = 3600.0,
        index_head_refresh: float = 5.0,
        page_concurrency: int = 16,
    ) -> None:
        self._http = ProviderHttp(self.name, base_url, session=session, timeout=timeout)
        self._cache = cache
        self._now = now
        self.currency = currency
        self._page_concurrency = max(1, page_concurrency)
        account = email + base_url
        # The password lives only in this closure, never on the instance (no repr or vars() leak).
        self._tokens = TokenStore(
            cache, credential_key(self.name, account), lambda: self._login(email, password)
        )
        self.index = CardIndex(
            cache,
            f"provider:{self.name}:index:{hashlib.sha256(account.encode()).hexdigest()[:16]}",
            read_page=self._list_page,
            walk=lambda first: self._all_pages("my-esims", {}, first),
            clock=lambda: self._now().timestamp(),
            max_age=index_max_age,
            head_every=index_head_refresh,
        )

    # --- transport ----------------------------------------------------------------------------------

    def _login(self, email: str, password: str) -> str:
        # Reference: providers.md §4.1 (POST /login -> status + access_token; 401 on bad credentials)
        try:
            result = self._http.request(
                "POST",
                "login",
                json_body={"email": email, "password": password},
                headers={"Accept": "application/json"},
                not_found_statuses=(),
            )
        except ProviderRejected as exc:  # 401 bad credentials, 422 missing field, 410 old host
            raise ProviderAuthError(
                self.name, f"login refused: {exc.message}", status_code=exc.status_code
            ) from exc
        body = result.body if isinstance(result.body, dict) else {}
        token = body.get("access_token")
        if body.get("status") is not True or not isinstance(token, str) or not token:
            raise ProviderAuthError(self.name, "login answered without status true and an access token")
        logger.info("esimcard login ok", extra={"provider": self.name})
        return token

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        per_esim: bool = False,
        require_status: bool = False,
    ) -> dict[str, Any]:
        """Every authenticated call: bearer token, one re-login on 401, then `check_answer`."""

        def send(token: str) -> Any:
            headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
            return self._http.request(method, path, json_body=json_body, params=params, headers=headers).body

        body = call_with_token(self._tokens, send)
        return check_answer(body, path, not_found_on_false=per_esim, require_status=require_status)

    # --- pagination ---------------------------------------------------------------------------------

    def _list_page(self, page: int, path: str = "my-esims", params: dict[str, Any] | None = None) -> ListPage:
        """One page of a paginated list, its lastPage (1 when `meta` is missing) and total."""
        # Reference: providers.md §4.2/§4.3 (GET /my-esims?page=N, paginated envelope)
        body = self._call("GET", path, params={**(params or {}), "page": page})
        items = body.get("data")
        if not isinstance(items, list):
            raise ProviderResponseInvalid(self.name, f"{path} page {page} has no data list")
        meta = body.get("meta")
        try:
            last = int(meta["lastPage"]) if isinstance(meta, dict) else 1
        except (KeyError, TypeError, ValueError):
            logger.warning("esimcard %s meta without a usable lastPage; reading one page", path)
            last = 1
        if last > _pages_for(meta):
            raise ProviderResponseInvalid(self.name, f"{path} claims {last} pages")
        return ListPage(items, last, _total(meta))

    def _lane(self, path: str, params: dict[str, Any], pages: list[int]) -> list[tuple[int, list[Any]]]:
        return [(page, self._list_page(page, path, params).items) for page in pages]

    def _all_pages(self, path: str, params: dict[str, Any], first: ListPage | None = None) -> list[Any]:
        """Page 1, then pages 2..lastPage over at most `page_concurrency` lanes, in page order."""
        if first is None:
            first = self._list_page(1, path, params)
        items = first.items
        rest = list(range(2, first.last_page + 1))
        if not rest:
            return list(items)
        lanes = min(self._page_concurrency, len(rest))
        results = gather(*(partial(self._lane, path, params, rest[i::lanes]) for i in range(lanes)))
        by_page = dict(pair for lane in results for pair in lane)
        return [*items, *(item for page in rest for item in by_page[page])]

    # --- lookup -------------------------------------------------------------------------------------

    def lookup(self, iccid: str, *, reference: str | None = None, install_code: bool = False) -> EsimRecord:
        """The eSIM by its UUID (`reference`, else from the index: UUIDs only). Its activation data is
        read on every lookup and never cached, so `install_code` changes nothing."""
        wanted = normalize_iccid(iccid)
        if reference:
            record = self._lookup_reference(wanted, reference)
            if record is not None:
                return record
            logger.info("esimcard reference for %s is stale; using the eSIM index", mask_iccid(wanted))
        uuid, created_at = self.index.entry(wanted)
        data, usage = self._read_esim(wanted, uuid)
        found = sim_iccid(data)
        if found is not None and found != wanted:
            raise ProviderResponseInvalid(self.name, "eSIM details name another ICCID than the list")
        return build_record(
            iccid=wanted, uuid=uuid, data=data, usage_data=usage, created_at=created_at, now=self._now()
        )

    def _lookup_reference(self, iccid: str, uuid: str) -> EsimRecord | None:
        """The record via the stored UUID; None when it is unknown or belongs to another ICCID."""
        try:
            data, usage = self._read_esim(iccid, uuid)
        except ProviderNotFound:
            return None
        if sim_iccid(data) != iccid:
            return None
        return build_record(
            iccid=iccid,
            uuid=uuid,
            data=data,
            usage_data=usage,
            created_at=self._created_at(iccid, uuid, data),
            now=self._now(),
        )

    def _created_at(self, iccid: str, uuid: str, data: dict[str, Any]) -> str | None:
        """The details' sim may lack created_at (not in the spec example); the index has it then."""
        sim = data.get("sim")
        if isinstance(sim, dict) and sim.get("created_at"):
            return None  # build_record reads it from the details
        snapshot = self.index.cached()
        entry = snapshot[0].get(iccid) if snapshot is not None else None
        return entry[1] if entry is not None and entry[0] == uuid else None

    def _read_esim(self, iccid: str, uuid: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Details and usage of one eSIM, concurrently. A failed usage read only costs the usage
        figures (the packages carry them too); a failed details read fails the lookup."""
        quoted = quote(uuid, safe="")
        # Reference: providers.md §4.2/§4.3 (GET /my-esims/:id, GET /my-sim/:id/usage; id = eSIM UUID)
        (details, details_error), (usage, usage_error) = gather_settled(
            partial(self._call, "GET", f"my-esims/{quoted}", per_esim=True),
            partial(self._call, "GET", f"my-sim/{quoted}/usage", per_esim=True),
        )
        if details_error is not None:
            raise details_error
        if usage_error is not None:
            logger.warning(
                "esimcard usage for %s failed (%s); using the package figures",
                mask_iccid(iccid),
                getattr(usage_error, "code", type(usage_error).__name__),
            )
        usage_data = usage.get("data") if usage_error is None else None
        return data_dict(details, "my-esims"), usage_data if isinstance(usage_data, dict) else None

    # --- ICCID -> UUID index (providers.esimcard_index) --------------------------------------------

    def rebuild_indexes(self, *, force: bool = False) -> dict[str, Any]:
        return {"esims": self.index.rebuild(force=force)}

    # --- catalogue ----------------------------------------------------------------------------------

    def catalogue(self) -> list[CatalogBundle]:
        # Reference: providers.md §4.2/§4.3 (GET /packages?package_type=DATA-ONLY, GET /pricing)
        first, pricing = gather(
            partial(self._list_page, 1, "packages", _CATALOGUE_TYPE),
            partial(self._call, "GET", "pricing"),
        )
        packages = self._all_pages("packages", _CATALOGUE_TYPE, first)
        countries_of, priced_items = pricing_packages(data_dict(pricing, "pricing"))
        bundles: list[CatalogBundle] = []
        seen: set[str] = set()
        for item in [*packages, *priced_items]:  # packages only in /pricing are sold too
            if not isinstance(item, dict):
                logger.warning("esimcard catalogue item is not an object; skipped")
                continue
            package_id = str(item.get("id") or "")
            if package_id in seen:
                continue
            countries = tuple(sorted(countries_of.get(package_id, ())))
            bundle = catalogue_bundle(item, countries, self.currency)
            if bundle is not None:
                seen.add(package_id)
                bundles.append(bundle)
        return bundles

    # --- top-ups ------------------------------------------------------------------------------------

    def top_up(self, request: TopUpRequest) -> TopUpResult:
        """Buy `request.package_id` for the eSIM. Never retried: a timeout is an unknown outcome.

        `imei` carries the ICCID, as in the original: what `imei` identifies in a top-up is not
        documented (the spec example is a device IMEI; providers.md §4.3, §6.2). Unverified: a recording
        settles it with POST /can-topup-esim, asked with the ICCID as `imei` (the top_up_available step).
        """
        if not request.package_id:
            raise ValueError("eSIMCard top-ups need request.package_id (the package_type_id)")
        self._check_top_up_available(request.iccid)
        logger.info("esimcard top-up for %s", mask_iccid(request.iccid), extra={"provider": self.name})
        try:
            # Reference: providers.md §4.2/§4.3 (POST /package/purchase; the original's /purchase-package does not exist)
            body = self._call(
                "POST",
                "package/purchase",
                json_body={"imei": request.iccid, "package_type_id": request.package_id},
                require_status=True,
            )
        except ProviderTimeout:
            logger.warning("esimcard top-up for %s timed out; outcome unknown", mask_iccid(request.iccid))
            raise
        except ProviderRejected as exc:
            # 200 {"status": false, "message": "Insufficient Wallet Balance, please refill your wallet
            # and try again"} (providers.md §4.1, verbatim from the live API) pauses sales.
            raise insufficient_funds_or_same(exc) from exc
        return purchase_result(body, request)

    def _check_top_up_available(self, iccid: str) -> None:
        try:
            # Reference: providers.md §4.2 (POST /can-topup-esim; the original's /check-topup does not exist)
            body = self._call("POST", "can-topup-esim", json_body={"imei": iccid})
        except ProviderTimeout as exc:
            # Nothing was bought yet, so this is a plain (retryable) unavailability, not an unknown outcome.
            raise ProviderUnavailable(self.name, "top-up availability check timed out") from exc
        data = body.get("data")
        if not isinstance(data, dict) or data.get("topup_available") is not True:
            raise ProviderRejected(self.name, "top-up not available for this eSIM", status_code=200)

    def find_top_up(self, request: TopUpRequest, *, since: datetime) -> TopUpResult | None:
        """Best effort: the API has no order lookup by our reference, so this reports a package of
        `request.package_id` that is assigned or in use on the eSIM and was activated at/after
        `since` (or not yet activated). A package of the same type bought elsewhere and not yet
        activated would also match."""
        if not request.package_id:
            raise ValueError("eSIMCard top-ups need request.package_id (the package_type_id)")
        # Reference: providers.md §4.2/§4.3 (GET /my-esims/:id with the eSIM UUID)
        body = self._call("GET", f"my-esims/{quote(request.esim_reference, safe='')}", per_esim=True)
        data = data_dict(body, "my-esims")
        found = sim_iccid(data)
        if found is not None and found != normalize_iccid(request.iccid):
            raise ProviderNotFound(self.name, "the eSIM reference belongs to another ICCID")
        return matching_top_up(data, request, since)

    def probe(self) -> None:
        # Reference: providers.md §4.2 (GET /balance -> {"status": true, "balance": 0})
        self._call("GET", "balance")

    def wallet(self) -> WalletBalance:
        """The reseller wallet. The answer names no currency: the account currency (ESIMCARD_CURRENCY)."""
        # Reference: providers.md §4.2 (GET /balance -> {"status": true, "balance": 0})
        body = self._call("GET", "balance")
        return parse_wallet(self.name, body, "balance", default_currency=self.currency, as_of=self._now())
