"""Parsing AirHub answers into our dataclasses (providers.md §2.3, §2.4).

Kept apart from `providers.airhub` so the client stays about transport, caching and search order.
AirHub is an ASP.NET API whose JSON casing is not guaranteed, so keys are matched case-insensitively;
several envelopes are unverified and each reader accepts the documented variants.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from providers.base import AIRHUB, BundleState, CatalogBundle, EsimRecord, StatusCode, Usage
from providers.errors import ProviderResponseInvalid
from providers.iccid import normalize_iccid
from providers.status import derive_status
from providers.units import is_unlimited, parse_datetime, parse_days, quantity_to_bytes, to_decimal

logger = logging.getLogger(__name__)

_SIM_ID_PREFIX = re.compile(r"^\s*sim\s*id\s*:", re.IGNORECASE)
_NOT_FOUND = re.compile(
    r"not\s*found|no\s+(?:data|records?|orders?|renewals?)\b|does\s*not\s*exist", re.IGNORECASE
)
_QUANTITY = re.compile(r"^\s*([0-9]+(?:[.,][0-9]+)?)\s*([A-Za-z]+)?\s*$")
_ISO2 = re.compile(r"^[A-Za-z]{2}$")

# The order fields the record needs; the cached index keeps only these (no activation data in it).
ORDER_FIELDS = (
    "orderId",
    "simID",
    "iccid",
    "ICCID",
    "planName",
    "planCode",
    "isActive",
    "purchaseDate",
    "vaildity",
    "validity",
    "capacity",
    "capacityUnit",
    "dataConsumed",
    "dataRemaining",
    "countryCode",
)
_LOWER_FIELDS = {name.lower() for name in ORDER_FIELDS}


def pick(mapping: Mapping[str, Any], *names: str) -> Any:
    """The first present, non-empty value among `names`, matching keys case-insensitively."""
    lowered: dict[str, Any] | None = None
    for name in names:
        value = mapping.get(name)
        if value is None:
            lowered = lowered if lowered is not None else {str(k).lower(): v for k, v in mapping.items()}
            value = lowered.get(name.lower())
        if value is not None and value != "":
            return value
    return None


def is_false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def is_true(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    return isinstance(value, str) and value.strip().lower() in {"true", "1", "yes", "active"}


def means_not_found(message: object) -> bool:
    return isinstance(message, str) and bool(_NOT_FOUND.search(message))


def provider_iccid(raw: object) -> str:
    """AirHub's ICCID value as a bare string: without the "SIM ID:" prefix, spaces or dashes."""
    return normalize_iccid(_SIM_ID_PREFIX.sub("", str(raw or "")))


def _list_under(body: Any, keys: Iterable[str]) -> list[Any] | None:
    if isinstance(body, list):
        return body
    if not isinstance(body, dict):
        return None
    for key in keys:
        present = any(str(k).lower() == key.lower() for k in body)
        value = pick(body, key)
        if isinstance(value, list):
            return value
        if present and value is None:
            return []  # `"getOrderdetails": null` on an account without orders
    return None


def order_items(body: Any, path: str) -> list[dict[str, Any]]:
    # Unverified: the original reads `getOrderdetails`; its parallel variant reads `data`; `orders` is a guess.
    # A recording settles it: GetOrderDetail from any lookup (docs/providers.md, "Recordings").
    items = _list_under(body, ("getOrderdetails", "data", "orders"))
    if items is None:
        raise ProviderResponseInvalid(AIRHUB, f"{path} answered without an order list")
    return [item for item in items if isinstance(item, dict)]


def order_index(items: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Normalised ICCID -> the slimmed order; the most recent purchase wins when an ICCID repeats."""
    index: dict[str, dict[str, Any]] = {}
    for item in items:
        iccid = provider_iccid(pick(item, "simID", "iccid", "ICCID"))
        if not iccid:
            continue
        slim = {key: value for key, value in item.items() if str(key).lower() in _LOWER_FIELDS}
        known = index.get(iccid)
        if known is None or _purchase_key(slim) > _purchase_key(known):
            index[iccid] = slim
    return index


def _purchase_key(order: Mapping[str, Any]) -> float:
    moment = parse_datetime(pick(order, "purchaseDate"))
    return moment.timestamp() if moment else float("-inf")


def parse_reference(reference: str | None) -> tuple[str, date | None]:
    """`"<orderId>|<YYYY-MM-DD>"` -> (order id, purchase day); the day is None when absent or unreadable."""
    order_id, _, day = (reference or "").partition("|")
    try:
        return order_id.strip(), date.fromisoformat(day.strip()) if day.strip() else None
    except ValueError:
        return order_id.strip(), None


def split_lpa(code: object) -> tuple[str | None, str | None]:
    """(SM-DP+ address, matching id) from `LPA:1$<smdp>$<matching>`; (None, None) for anything else."""
    text = str(code or "").strip()
    if not text.upper().startswith("LPA:1$"):
        return None, None
    parts = text.split("$")
    smdp = parts[1].strip() if len(parts) > 1 else ""
    matching = parts[2].strip() if len(parts) > 2 else ""
    return smdp or None, matching or None


def extract_activation(body: Any, order_id: str) -> dict[str, str | None] | None:
    """Activation data for one order from any of the envelopes seen in code that calls this endpoint.

    Unverified: the original reads `getOrderdetails[0]`, script_optimized reads a dict keyed by order id,
    3P code reads `data` (list or dict) with `smdpAddress` / `matchingId` (providers.md §2.3).
    A recording settles it: GetActivationCode from a lookup of an eSIM the account owns.
    """
    item = _activation_item(body, order_id)
    if item is None:
        return None
    raw_code = pick(item, "activationCode")
    smdp, matching = split_lpa(raw_code)
    smdp = smdp or _text(pick(item, "smdpAddress"))
    matching = matching or _text(pick(item, "matchingId"))
    code = _text(raw_code)
    if (code is None or split_lpa(code) == (None, None)) and smdp and matching:
        code = f"LPA:1${smdp}${matching}"  # something else than an LPA string (or none): build it
    return {
        "activation_code": code,
        "apn": _text(pick(item, "apn")),
        "smdp_address": smdp,
        "matching_id": matching,
    }


def _activation_item(body: Any, order_id: str) -> Mapping[str, Any] | None:
    items = _list_under(body, ("getOrderdetails", "data"))
    if items:
        dicts = [item for item in items if isinstance(item, dict)]
        match = next((item for item in dicts if str(pick(item, "orderId") or "") == order_id), None)
        return match or (dicts[0] if dicts else None)
    if not isinstance(body, dict):
        return None
    data = pick(body, "data")
    for candidate in (data, body):
        if isinstance(candidate, dict):
            if pick(candidate, "activationCode", "smdpAddress", "matchingId") is not None:
                return candidate
            keyed = candidate.get(order_id)
            if isinstance(keyed, dict):
                return keyed
    return None


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _quantity(value: object, unit: str) -> int | None:
    """Bytes from "0.75" (in the capacity unit) or "750 MB" (its own unit)."""
    match = _QUANTITY.match(str(value)) if value not in (None, "") else None
    if match is None:
        return None
    return quantity_to_bytes(match.group(1), match.group(2) or unit)


def parse_usage(order: Mapping[str, Any]) -> Usage | None:
    """Decimal units (1 GB = 10**9 bytes); `dataConsumed`/`dataRemaining` are often "" when inactive."""
    raw_capacity = pick(order, "capacity")
    unit = str(pick(order, "capacityUnit") or "GB")
    if is_unlimited(raw_capacity):
        return Usage(unlimited=True, consumed_bytes=_quantity(pick(order, "dataConsumed"), unit))
    capacity = _quantity(raw_capacity, unit)
    remaining = _quantity(pick(order, "dataRemaining"), unit)
    consumed = _quantity(pick(order, "dataConsumed"), unit)
    if capacity is not None and remaining is not None and consumed is None:
        consumed = max(capacity - remaining, 0)
    elif capacity is not None and consumed is not None and remaining is None:
        remaining = max(capacity - consumed, 0)
    if capacity is None and remaining is None and consumed is None:
        return None
    return Usage(capacity_bytes=capacity, consumed_bytes=consumed, remaining_bytes=remaining)


def build_record(
    order: Mapping[str, Any], iccid: str, activation: Mapping[str, str | None] | None, now: datetime
) -> EsimRecord:
    order_id = str(pick(order, "orderId") or "")
    plan_name = _text(pick(order, "planName"))
    plan_code = _text(pick(order, "planCode"))
    purchased_at = parse_datetime(pick(order, "purchaseDate"))
    validity = parse_days(pick(order, "vaildity", "validity"))  # sic: AirHub spells it "vaildity"
    # `isActive` semantics are undocumented (providers.md §2.2): we read it as "the plan is in use".
    active = is_true(pick(order, "isActive"))
    usage = parse_usage(order)
    bundle = BundleState(
        name=plan_code or plan_name or "",
        description=plan_name or "",
        state=StatusCode.ACTIVE if active else StatusCode.NOT_ACTIVE,
        raw_state="Active" if active else "Inactive",
        usage=usage,
        duration_days=validity,
    )
    profile_status = "Active" if active else "Inactive"
    activation = activation or {}
    country = _text(pick(order, "countryCode"))
    return EsimRecord(
        provider=AIRHUB,
        iccid=iccid,
        reference=f"{order_id}|{purchased_at.date().isoformat() if purchased_at else ''}",
        status=derive_status((bundle,), profile_status, now),
        profile_status=profile_status,
        plan_name=plan_name,
        plan_code=plan_code,
        order_id=order_id or None,
        usage=usage,
        bundles=(bundle,),
        purchased_at=purchased_at,
        validity_days=validity,
        country_code=country.upper() if country else None,
        smdp_address=activation.get("smdp_address"),
        matching_id=activation.get("matching_id"),
        activation_code=activation.get("activation_code"),
        apn=activation.get("apn"),
    )


def parse_catalogue(body: Any, path: str) -> list[CatalogBundle]:
    # Unverified shape (providers.md §2.2 documents the request only): accept each envelope 3P code used.
    # A recording settles it: GetPlanInformation from the catalogue step.
    items = _list_under(body, ("data", "getPlanInformation", "planDetails", "plans"))
    if items is None:
        raise ProviderResponseInvalid(AIRHUB, f"{path} answered without a plan list")
    bundles = []
    for item in items:
        bundle = _catalog_bundle(item) if isinstance(item, dict) else None
        if bundle is None:
            logger.warning("airhub plan skipped: no code or price", extra={"provider": AIRHUB})
            continue
        bundles.append(bundle)
    return bundles


def _catalog_bundle(item: Mapping[str, Any]) -> CatalogBundle | None:
    code = _text(pick(item, "planCode", "planId", "code"))
    cost = to_decimal(pick(item, "price", "amount", "planPrice"))
    if code is None or cost is None:
        return None
    raw_capacity = pick(item, "capacity")
    unit = str(pick(item, "capacityUnit") or "GB")
    raw_data = raw_capacity if raw_capacity is not None else pick(item, "data")
    unlimited = is_unlimited(raw_data)
    return CatalogBundle(
        provider=AIRHUB,
        code=code,
        description=_text(pick(item, "planName", "name")) or code,
        cost=cost,
        currency=str(pick(item, "currency") or "USD").strip().upper(),
        countries=_countries(pick(item, "countryCode", "countries")),
        data_bytes=None if unlimited else _quantity(raw_data, unit),
        unlimited=unlimited,
        duration_days=parse_days(pick(item, "validity", "vaildity", "days")),
        package_id=code,
    )


def _countries(raw: object) -> tuple[str, ...]:
    values: list[object] = []
    if isinstance(raw, str):
        values = raw.split(",")
    elif isinstance(raw, list):
        values = [pick(v, "countryCode", "code", "iso") if isinstance(v, dict) else v for v in raw]
    codes = (str(v).strip().upper() for v in values if v is not None)
    return tuple(dict.fromkeys(code for code in codes if _ISO2.match(code)))


def renew_reference(body: Mapping[str, Any], order_id: str, order_reference: str) -> str:
    # Unverified: InsertRenew's answer is unknown (providers.md §2.3); take the first id-like value.
    # No recording can settle it (a paid call, never recorded): the first real renewal's answer will.
    data = pick(body, "data")
    data = data if isinstance(data, dict) else {}
    for value in (pick(data, "renewId"), pick(body, "renewId"), pick(data, "id"), pick(body, "id")):
        if _text(value):
            return str(value).strip()
    if _text(pick(data, "orderId")):
        return str(pick(data, "orderId")).strip()
    return f"{order_id}:{order_reference}"


def renew_items(body: Any, path: str) -> list[dict[str, Any]]:
    # Unverified: GetRenewData is only named by 3P code (providers.md §2.2); accept `data`/`getRenewData`.
    # A recording settles it: GetRenewData from the renewal_history step of a found eSIM.
    items = _list_under(body, ("data", "getRenewData"))
    if items is None:
        raise ProviderResponseInvalid(AIRHUB, f"{path} answered without a renewal list")
    return [item for item in items if isinstance(item, dict)]


def _renewal_date(item: Mapping[str, Any]) -> datetime | None:
    # AirHub's timezone is unknown; naive timestamps are read as UTC like everywhere else.
    return parse_datetime(pick(item, "renewDate", "createdDate", "createdAt", "date"))


def find_renewal(
    items: Iterable[Mapping[str, Any]], order_id: str, since: datetime
) -> Mapping[str, Any] | None:
    """The first renewal of `order_id` dated at or after `since`; items without an order id are
    taken as the requested order's (we asked by order id)."""
    undated = False
    for item in items:
        if str(pick(item, "orderId", "orderID") or order_id) != order_id:
            continue
        moment = _renewal_date(item)
        if moment is None:
            undated = True
        elif moment >= since:
            return item
    if undated:
        # A renewal without a readable date might be ours; answering "none" could cause a double top-up.
        raise ProviderResponseInvalid(AIRHUB, "renewal history lists a renewal without a readable date")
    return None


def renewal_id(item: Mapping[str, Any]) -> str | None:
    return _text(pick(item, "renewId", "id"))
