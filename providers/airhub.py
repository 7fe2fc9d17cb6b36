"""AirHub client (providers.md §2): login with user name + password, partner code in every body.

AirHub has no lookup by ICCID (providers.md §2.2), so `lookup` searches order lists:

1. the account's RECENT orders (`GetOrderDetail` flag "1": the last 300 orders), kept as an
   ICCID -> order index in the shared cache for `orders_ttl` seconds, so most lookups cost no call;
2. on a miss, a reference from an earlier lookup (`"<orderId>|<purchase day>"`) narrows the search to
   that day ± 1 (flag "2"); without one, an index older than a few seconds is refreshed once (an
   eSIM bought a moment ago);
3. then the HISTORY beyond the last 300 orders: flag "2" date windows of `history_window_days`
   going back `history_days` (default 365) from today. The current window is read on every such
   search; the older ones form a shared history index (which orders a past day holds does not
   change), walked by one worker at a time and rebuilt in the background after `history_ttl`.
   A hit from that index re-reads the purchase day for current usage.

The recent-orders and history indexes are `SharedSnapshot`s refreshed under `SingleFlight`
(providers.shared): a burst of lookups in several workers costs one read of each list. Records
carry `as_of`, the time the order list they came from was read.

Activation data (`GetActivationCode`) is read per order id. Only its public part (APN, SM-DP+ address:
what the status answer shows) is cached, for `activation_ttl`; the activation code and its matching id
are never stored in any cache: a record carries them only when they were read during that lookup, and
`lookup(..., install_code=True)` (the staff install code) always reads them from AirHub.

An ICCID bought more than `history_days` ago and not among the last 300 orders is reported as not
found. ICCIDs are compared exactly (never as substrings) after stripping AirHub's "SIM ID:" prefix,
spaces and dashes. HTTP 404 is NOT "unknown ICCID" here (no endpoint is per-ICCID): it means a wrong
path, so it surfaces as ProviderRejected.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import partial
from typing import Any

import requests

from providers import concurrency
from providers.airhub_parse import (
    build_record,
    extract_activation,
    find_renewal,
    is_false,
    is_true,
    means_not_found,
    order_index,
    order_items,
    parse_catalogue,
    parse_reference,
    pick,
    renew_items,
    renew_reference,
    renewal_id,
)
from providers.base import (
    AIRHUB,
    CatalogBundle,
    EsimRecord,
    TopUpRequest,
    TopUpResult,
    TopUpState,
    WalletBalance,
)
from providers.cache import CacheLike
from providers.concurrency import gather
from providers.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderResponseInvalid,
    insufficient_funds_or_same,
)
from providers.http import DEFAULT_TIMEOUT, ProviderHttp
from providers.iccid import mask_iccid, normalize_iccid
from providers.observe import IndexWalk, index_walks
from providers.shared import SharedSnapshot, SingleFlight
from providers.tokens import TokenStore, call_with_token, credential_key
from providers.units import parse_datetime
from providers.wallet_parse import parse_wallet

logger = logging.getLogger(__name__)

LOGIN_PATH = "/api/Authentication/UserLogin"
ORDERS_PATH = "/api/ESIM/GetOrderDetail"
ACTIVATION_PATH = "/api/ESIM/GetActivationCode"
PLANS_PATH = "/api/ESIM/GetPlanInformation"
RENEW_PATH = "/api/Renew/InsertRenew"
RENEW_DATA_PATH = "/api/Renew/GetRenewData"
WALLET_PATH = "/api/ESIM/GetWallet"

INDEX_REFRESH_AFTER = 5.0  # seconds: a younger index already saw any eSIM bought before this lookup
INDEX_WAIT_SECONDS = 60.0  # how long a lookup waits for another worker's order-list read
REFERENCE_SLACK_DAYS = 1  # AirHub's timezone is unknown, so the purchase day may be off by one
_MAX_MESSAGE = 200
_CENT = Decimal("0.01")

_Index = dict[str, dict[str, Any]]  # normalised ICCID -> slimmed order
# The activation fields a cache may hold: what the status answer shows. Never the activation code or
# the matching id (anyone holding those can install the eSIM).
PUBLIC_ACTIVATION_FIELDS = ("apn", "smdp_address")


@dataclass(frozen=True)
class _Prefetch:
    """The activation data of the stored order id: read from the cache at once, or being read from
    AirHub (`future`) while the order is looked up."""

    order_id: str
    future: Future | None = None
    cached: dict[str, str | None] | None = None

    def result(self) -> dict[str, str | None] | None:
        return self.future.result() if self.future is not None else self.cached


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class AirHubClient:
    name = AIRHUB

    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        cache: CacheLike,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        orders_ttl: float = 60.0,
        history_days: int = 365,
        history_window_days: int = 31,
        activation_ttl: float = 86400,
        history_ttl: float = 3600.0,
    ) -> None:
        self._http = ProviderHttp(AIRHUB, base_url, session=session, timeout=timeout)
        self._username = username
        self._password = password
        self._cache = cache
        self._now = now
        self._orders_ttl = orders_ttl
        self._history_days = max(0, history_days)
        self._window_days = max(1, history_window_days)
        self._activation_ttl = activation_ttl
        identity = username + base_url
        self._tokens = TokenStore(cache, credential_key(AIRHUB, identity), self._login)
        # Per-account cache keys that do not reveal the user name.
        self._prefix = f"provider:{AIRHUB}:{hashlib.sha256(identity.encode()).hexdigest()[:16]}"
        # The last 300 orders (refreshed after `orders_ttl`) and the older history (rebuilt after
        # `history_ttl`), each shared by every worker and built by one of them at a time.
        self._recent = SharedSnapshot(cache, f"{self._prefix}:orders", ttl=max(orders_ttl * 10, 600.0))
        self._recent_flight = SingleFlight(cache, f"{self._prefix}:orders:refresh", lease=INDEX_WAIT_SECONDS)
        self._history_ttl = history_ttl
        self._history = SharedSnapshot(cache, f"{self._prefix}:history", ttl=history_ttl * 4)
        self._history_flight = SingleFlight(cache, f"{self._prefix}:history:walk", lease=INDEX_WAIT_SECONDS)

    # --- auth -------------------------------------------------------------------------------------

    def _login(self) -> dict[str, Any]:
        # Reference: providers.md §2.1 (UserLogin; isSuccess + top-level token + data.partnerCode)
        body = self._http.request(
            "POST",
            LOGIN_PATH,
            json_body={"userName": self._username, "password": self._password},
            not_found_statuses=(),
        ).body
        if not isinstance(body, dict):
            raise ProviderResponseInvalid(AIRHUB, f"{LOGIN_PATH} answered without a JSON object")
        token = pick(body, "token")
        if not is_true(pick(body, "isSuccess")) or not isinstance(token, str):
            raise ProviderAuthError(AIRHUB, f"login refused: {self._message(body, 'no token')}")
        data = pick(body, "data")
        partner_code = pick(data, "partnerCode") if isinstance(data, dict) else None
        if partner_code is None:
            raise ProviderResponseInvalid(AIRHUB, f"{LOGIN_PATH} answered without data.partnerCode")
        # The partner code is numeric and sent back exactly as given (providers.md §2.1).
        return {"token": token, "partner_code": partner_code}

    def _post(self, path: str, body: Callable[[Any], dict[str, Any]]) -> Any:
        """POST with the bearer token; `body(partner_code)` builds the JSON. One re-login on 401/403."""

        def call(login: dict[str, Any]) -> Any:
            headers = {"Authorization": f"Bearer {login['token']}"}
            json_body = body(login["partner_code"])
            return self._http.request(
                "POST", path, json_body=json_body, headers=headers, not_found_statuses=()
            ).body

        return call_with_token(self._tokens, call)

    def _message(self, body: Any, default: str) -> str:
        message = pick(body, "message") if isinstance(body, dict) else None
        text = str(message)[:_MAX_MESSAGE] if message else default
        return text.replace(self._password, "***") if self._password else text

    def _raise_refusal(self, body: Any, path: str) -> None:
        """AirHub answers business failures with HTTP 200 and `isSuccess: false`."""
        if isinstance(body, dict) and is_false(pick(body, "isSuccess")):
            raise ProviderRejected(AIRHUB, f"{path} refused: {self._message(body, 'isSuccess false')}")

    def probe(self) -> None:
        self._tokens.get()

    # --- lookup -----------------------------------------------------------------------------------

    def lookup(self, iccid: str, *, reference: str | None = None, install_code: bool = False) -> EsimRecord:
        wanted = normalize_iccid(iccid)
        activation = self._prefetch_activation(reference, wanted, fresh=install_code)
        order, as_of = self._find_order(wanted, reference)
        if order is None:
            logger.info("airhub does not know %s", mask_iccid(wanted), extra={"provider": AIRHUB})
            raise ProviderNotFound(
                AIRHUB,
                f"ICCID not among the last 300 orders or the last {self._history_days} days",
                as_of=_utc(as_of),
            )
        order_id = str(pick(order, "orderId") or "")
        if activation is not None and activation.order_id == order_id:
            data = activation.result()
        else:
            data = self._activation(order_id, wanted, fresh=install_code)
        return replace(build_record(order, wanted, data, self._now()), as_of=_utc(as_of))

    def _prefetch_activation(self, reference: str | None, iccid: str, *, fresh: bool) -> _Prefetch | None:
        """With a stored order id, the cached activation data (one cache read per lookup), or else a
        read of it from AirHub while the order is being looked up."""
        order_id, _ = parse_reference(reference)
        if not order_id:
            return None
        if not fresh:
            cached = self._cache.get(self._activation_key(order_id))
            if cached is not None:
                return _Prefetch(order_id, cached=cached)
        return _Prefetch(
            order_id, concurrency.submit("client", self._activation, order_id, iccid, fresh=fresh)
        )

    def _find_order(self, wanted: str, reference: str | None) -> tuple[dict[str, Any] | None, float]:
        """The order and when the list it came from was read (epoch seconds)."""
        index, fetched_at = self._recent_index()
        order = index.get(wanted)
        if order is not None:
            return order, fetched_at
        _, day = parse_reference(reference)
        if day is not None:
            order = self._search_around(wanted, day)
        elif self._clock() - fetched_at > INDEX_REFRESH_AFTER:
            index, fetched_at = self._recent_index(max_age=INDEX_REFRESH_AFTER)
            order = index.get(wanted)
            if order is not None:
                return order, fetched_at
        # A stale or wrong reference must not hide the eSIM: fall back to the full history.
        order = order if order is not None else self._search_history(wanted)
        return order, self._clock() if order is not None else fetched_at

    def _clock(self) -> float:
        return self._now().timestamp()

    def _recent_index(self, *, max_age: float | None = None) -> tuple[_Index, float]:
        """The account's last 300 orders by ICCID, no older than `max_age` (default `orders_ttl`)."""
        oldest = self._clock() - (self._orders_ttl if max_age is None else max_age)

        def fresh() -> tuple[_Index, float] | None:
            snapshot = self._recent.get()
            if snapshot is None or snapshot[1]["fetched_at"] < oldest:
                return None
            return snapshot[0], snapshot[1]["fetched_at"]

        value = fresh()
        if value is not None:
            return value
        return self._recent_flight.run(self._fetch_recent, ready=fresh, wait=INDEX_WAIT_SECONDS)

    def _fetch_recent(self) -> tuple[_Index, float]:
        # Reference: providers.md §2.2 (GetOrderDetail flag "1" = the account's last 300 orders)
        index = self._fetch_orders({"flag": "1", "fromDate": "", "toDate": ""})
        fetched_at = self._clock()
        self._recent.put(index, {"fetched_at": fetched_at})
        return index, fetched_at

    def _fetch_orders(self, selection: dict[str, str]) -> _Index:
        body = self._post(ORDERS_PATH, lambda partner: {"partnerCode": partner, **selection})
        if (
            isinstance(body, dict)
            and is_false(pick(body, "isSuccess"))
            and means_not_found(pick(body, "message"))
        ):
            return {}  # "no orders in this range" is an empty list, not a refusal
        self._raise_refusal(body, ORDERS_PATH)
        return order_index(order_items(body, ORDERS_PATH))

    def _window_index(self, start: date, end: date) -> _Index:
        # Reference: providers.md §2.2 (GetOrderDetail flag "2" = a date range, fromDate/toDate mandatory).
        # Unverified: the date format; YYYY-MM-DD is assumed (no source shows a flag-2 call). A recording
        # settles it: GetOrderDetail flag 2 from a lookup of an ICCID not among the last 300 orders.
        return self._fetch_orders({"flag": "2", "fromDate": start.isoformat(), "toDate": end.isoformat()})

    def _search_around(self, wanted: str, day: date) -> dict[str, Any] | None:
        """A fresh (never cached) read of the orders of `day` ± 1: current usage for a known order."""
        slack = timedelta(days=REFERENCE_SLACK_DAYS)
        start, end = day - slack, min(day + slack, self._now().date())
        return self._window_index(start, end).get(wanted) if start <= end else None

    def _history_windows(self) -> list[tuple[date, date]]:
        """Newest first: [today - window + 1, today], then the window before, back to `history_days`."""
        today = self._now().date()
        earliest = today - timedelta(days=self._history_days)
        windows, end = [], today
        while self._history_days and end >= earliest:
            start = max(end - timedelta(days=self._window_days - 1), earliest)
            windows.append((start, end))
            end = start - timedelta(days=1)
        return windows

    def _search_history(self, wanted: str) -> dict[str, Any] | None:
        """The current window read now, the older ones from the shared history index (one walk)."""
        windows = self._history_windows()
        if not windows:
            return None
        current = concurrency.submit("client", self._window_index, *windows[0])
        try:
            past, built_at = self._past_orders(windows[1:])
        finally:
            recent_orders = current.result()  # always collected; its error outranks a past miss
        order = recent_orders.get(wanted)
        if order is not None:
            return order
        order = past.get(wanted)
        if order is None:
            return None
        logger.info("airhub found %s in its order history", mask_iccid(wanted), extra={"provider": AIRHUB})
        if self._clock() - built_at <= INDEX_REFRESH_AFTER:
            return order  # read just now
        # An older history index only spares repeated misses; a hit needs today's usage.
        day = parse_datetime(pick(order, "purchaseDate"))
        return (self._search_around(wanted, day.date()) if day else None) or order

    # --- history index (orders older than the current window) ------------------------------------------

    def _past_orders(self, windows: list[tuple[date, date]]) -> tuple[_Index, float]:
        """Every order of the past windows by ICCID (the newest window wins), built once for all workers:
        which orders a past day holds does not change, so the index lives `history_ttl` seconds and a
        stale one keeps answering while it is rebuilt in the background."""
        if not windows:
            return {}, self._clock()
        day = self._now().date().isoformat()
        for_today = partial(self._history_of, day)
        found = for_today()
        if found is not None:
            if self._history_stale(found[1]):
                self._history_flight.run_in_background(
                    self._rebuild_history, provider=AIRHUB, what="order_history"
                )
            return found
        return self._history_flight.run(
            lambda: self._walk_history(windows), ready=for_today, wait=INDEX_WAIT_SECONDS
        )

    def _history_of(self, day: str) -> tuple[_Index, float] | None:
        """The shared history index and when it was built, if it was built on `day` (ISO date)."""
        snapshot = self._history.get()
        if snapshot is None or snapshot[1]["day"] != day:
            return None
        return snapshot[0], snapshot[1]["built_at"]

    def _history_stale(self, built_at: float) -> bool:
        return self._clock() - built_at >= self._history_ttl

    def _walk_history(self, windows: list[tuple[date, date]]) -> tuple[_Index, float]:
        started = time.monotonic()
        outcome = "error"
        try:
            parts = gather(*(partial(self._window_index, start, end) for start, end in windows))
            outcome = "ok"
        finally:
            index_walks.emit(
                IndexWalk(AIRHUB, "order_history", "full", outcome, len(windows), time.monotonic() - started)
            )
        merged: _Index = {}
        for part in reversed(parts):  # oldest first, so the newest window's order wins
            merged.update(part)
        built_at = self._clock()
        self._history.put(merged, {"built_at": built_at, "day": self._now().date().isoformat()})
        return merged, built_at

    def _rebuild_history(self) -> tuple[_Index, float]:
        windows = self._history_windows()[1:]
        return self._history_flight.run(
            lambda: self._walk_history(windows), ready=lambda: None, wait=INDEX_WAIT_SECONDS
        )

    def rebuild_indexes(self, *, force: bool = False) -> dict[str, Any]:
        """Refresh the recent-orders index when half its lifetime has passed, and the history index when
        stale (or both with `force`); called off the request path by `rebuild_provider_indexes`."""
        recent = self._recent.get()
        recent_age = self._clock() - recent[1]["fetched_at"] if recent else None
        refresh_recent = force or recent_age is None or recent_age >= self._orders_ttl / 2
        if refresh_recent:
            self._recent_flight.run(self._fetch_recent, ready=lambda: None, wait=INDEX_WAIT_SECONDS)
        history = self._history_of(self._now().date().isoformat())
        stale = history is None or self._history_stale(history[1])
        if force or stale:
            self._rebuild_history()
        return {
            "recent_orders": {"rebuilt": refresh_recent, "entries": len((self._recent.get() or ({},))[0])},
            "order_history": {"rebuilt": force or stale, "entries": len((self._history.get() or ({},))[0])},
        }

    # --- activation data --------------------------------------------------------------------------

    def _activation(self, order_id: str, iccid: str, *, fresh: bool = False) -> dict[str, str | None] | None:
        """Activation data, or None: its failure must not fail the lookup (the status is known).

        From the cache only its public part (PUBLIC_ACTIVATION_FIELDS); read from AirHub (always when
        `fresh`) it is whole, activation code and matching id included, and only the public part is
        cached: the install code is never stored."""
        if not order_id:
            return None
        key = self._activation_key(order_id)
        if not fresh:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        try:
            activation = self._fetch_activation(order_id)
        except ProviderError as exc:
            logger.warning(
                "airhub activation data unavailable for %s: %s",
                mask_iccid(iccid),
                exc.code,
                extra={"provider": AIRHUB, "status_code": exc.status_code},
            )
            return None
        if activation is None:
            logger.warning("airhub activation answer unreadable for %s", mask_iccid(iccid))
            return None
        public = {name: activation.get(name) for name in PUBLIC_ACTIVATION_FIELDS}
        self._cache.set(key, public, self._activation_ttl)
        self._cache.delete(f"{self._prefix}:activation:{order_id}")  # whole, as cached before 2026-12
        return activation

    def _activation_key(self, order_id: str) -> str:
        return f"{self._prefix}:activation-public:{order_id}"

    def _fetch_activation(self, order_id: str) -> dict[str, str | None] | None:
        # Reference: providers.md §2.2, §2.3 (GetActivationCode takes order ids, not ICCIDs)
        body = self._post(ACTIVATION_PATH, lambda partner: {"partnerCode": partner, "orderid": [order_id]})
        self._raise_refusal(body, ACTIVATION_PATH)
        return extract_activation(body, order_id)

    # --- catalogue --------------------------------------------------------------------------------

    def catalogue(self) -> list[CatalogBundle]:
        # Reference: providers.md §2.2 (GetPlanInformation, from 3P code; flag "1" = all plans)
        body = self._post(PLANS_PATH, lambda partner: {"partnerCode": partner, "flag": "1"})
        self._raise_refusal(body, PLANS_PATH)
        return parse_catalogue(body, PLANS_PATH)

    # --- wallet -----------------------------------------------------------------------------------

    def wallet(self) -> WalletBalance:
        """The reseller wallet. Unverified: GetWallet is only named by third-party code (providers.md
        §2.2: `POST /api/ESIM/GetWallet`, request and answer unknown); the partner code is sent as in
        every other AirHub body and the balance is looked for defensively (providers.wallet_parse).
        A recording settles it (the wallet step of provider_smoke --record). AirHub states no
        currency anywhere we know of: USD unless the answer names one."""
        # Reference: providers.md §2.2 (wallet: GetWallet, 3P only; shape "?")
        body = self._post(WALLET_PATH, lambda partner: {"partnerCode": partner})
        self._raise_refusal(body, WALLET_PATH)
        return parse_wallet(AIRHUB, body, WALLET_PATH, default_currency="USD", as_of=self._now())

    # --- top-ups ----------------------------------------------------------------------------------

    def top_up(self, request: TopUpRequest) -> TopUpResult:
        order_id = _order_id(request)
        if request.amount is None or request.amount <= 0:
            raise ValueError("an AirHub renewal needs a positive amount")
        if not request.duration_days or request.duration_days <= 0:
            raise ValueError("an AirHub renewal needs a positive duration in days")
        amount = str(request.amount.quantize(_CENT, rounding=ROUND_HALF_UP))
        payload = {"userAmount": amount, "orderID": order_id, "renewalDays": request.duration_days}
        # Reference: providers.md §2.2, §6.2 (InsertRenew; the original's body, no partnerCode)
        try:
            body = self._post(RENEW_PATH, lambda _partner: payload)
        except ProviderRejected as exc:  # a 4xx: "wallet empty" in its message pauses sales
            raise insufficient_funds_or_same(exc) from exc
        flag = pick(body, "isSuccess") if isinstance(body, dict) else None
        if is_false(flag):
            raise insufficient_funds_or_same(
                ProviderRejected(AIRHUB, f"renewal refused: {self._message(body, 'isSuccess false')}")
            )
        if not is_true(flag):
            # Unverified response shape: without isSuccess we cannot tell whether it was applied.
            # InsertRenew is paid and never recorded: the first real renewal's answer settles it.
            raise ProviderResponseInvalid(AIRHUB, f"{RENEW_PATH} answered without isSuccess; outcome unknown")
        self._recent.delete()  # validity and data changed: the next lookup reads afresh
        reference = renew_reference(body, order_id, request.order_reference)
        logger.info(
            "airhub renewal placed for %s",
            mask_iccid(request.iccid),
            extra={"provider": AIRHUB, "order_id": order_id, "order_reference": request.order_reference},
        )
        return TopUpResult(AIRHUB, reference, TopUpState.COMPLETED, self._message(body, ""))

    def find_top_up(self, request: TopUpRequest, *, since: datetime) -> TopUpResult | None:
        """None only when the renewal history answers and holds no renewal of the order since `since`.

        Raises ProviderError whenever it cannot tell, including an HTTP 404: GetRenewData is only named
        by third-party code (providers.md §2.2), so a 404 may mean the path or the order is unknown to
        it, never that no renewal happened (taking it for "absent" could top up twice).
        """
        order_id = _order_id(request)
        # Reference: providers.md §2.2 (GetRenewData, named by 3P code only; request and answer unverified)
        try:
            body = self._post(RENEW_DATA_PATH, lambda partner: {"partnerCode": partner, "orderID": order_id})
        except ProviderRejected as exc:
            if exc.status_code != 404:
                raise
            raise ProviderRejected(
                AIRHUB,
                f"{RENEW_DATA_PATH} answered 404: the renewal history cannot tell whether the top-up happened",
                status_code=404,
            ) from exc
        if (
            isinstance(body, dict)
            and is_false(pick(body, "isSuccess"))
            and means_not_found(pick(body, "message"))
        ):
            return None
        self._raise_refusal(body, RENEW_DATA_PATH)
        item = find_renewal(renew_items(body, RENEW_DATA_PATH), order_id, since)
        if item is None:
            return None
        reference = renewal_id(item) or f"{order_id}:{request.order_reference}"
        return TopUpResult(AIRHUB, reference, TopUpState.COMPLETED, "found in renewal history")


def _order_id(request: TopUpRequest) -> str:
    """The AirHub order id: the part of our `esim_reference` before the "|"."""
    order_id = request.esim_reference.partition("|")[0].strip()
    if not order_id:
        raise ValueError("an AirHub renewal needs the eSIM reference from a lookup")
    return order_id
