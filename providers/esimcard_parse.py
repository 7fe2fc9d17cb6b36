"""Turning eSIMCard answers into the provider dataclasses (providers.md §4.3, §4.4).

Kept apart from `providers.esimcard` so the client module is only about HTTP, tokens and the index.
Every function here is pure: no HTTP, no cache, no clock other than the `now` it is given.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from providers.base import (
    ESIMCARD,
    BundleState,
    CatalogBundle,
    EsimRecord,
    StatusCode,
    TopUpRequest,
    TopUpResult,
    TopUpState,
    Usage,
)
from providers.errors import ProviderNotFound, ProviderRejected, ProviderResponseInvalid
from providers.iccid import normalize_iccid
from providers.plans import parse_plan_name
from providers.status import bundle_state_code, current_bundle, derive_status
from providers.units import is_unlimited, parse_datetime, quantity_to_bytes, to_decimal

logger = logging.getLogger(__name__)

# The buckets of GET /my-esims/{uuid} and the state each implies when a package's own `status` is
# unknown. Only `in_use_packages` is in the spec; the other three are 3P-sourced and may be absent.
BUCKETS: tuple[tuple[str, StatusCode], ...] = (
    ("in_use", StatusCode.ACTIVE),
    ("assigned", StatusCode.NOT_ACTIVE),
    ("completed", StatusCode.EXPIRED),
    ("revoked", StatusCode.REVOKED),
)
_MAX_MESSAGE = 200
_DAYS_IN_NAME = re.compile(r"(\d+)\s*Days?", re.IGNORECASE)
# Activation keys seen on eSIM items. Unverified: none is in the spec example (providers.md §4.3);
# the original and 3P clients read them, so each is accepted when it holds an LPA string.
# A recording settles it: GET /my-esims and GET /my-esims/{id} (docs/providers.md, "Recordings").
_ACTIVATION_KEYS = ("qr_code_text", "qr_code", "activation_code", "lpa")
# eSIMCard shows binary GB/MB rounded to 4 decimals: a 10**9-byte plan is "0.9313 GB" (providers.md
# §4.3; the sandbox rounds the same way). The true figure therefore lies within half a unit of the
# 4th decimal; when a whole decimal MB (for GB) or KB (for MB) lies that close, it is the plan size
# the provider started from, and we use it so a 1 GB plan is exactly 10**9 bytes again.
_SHOWN_DECIMALS = 4
_DECIMAL_STEP = {"GB": 10**6, "GIB": 10**6, "MB": 10**3, "MIB": 10**3, "TB": 10**9, "TIB": 10**9}
_VALIDITY_UNIT_DAYS = {"day": 1, "days": 1, "week": 7, "weeks": 7, "month": 30, "months": 30}


def _is_false(value: object) -> bool:
    return value is False or (isinstance(value, str) and value.strip().lower() == "false")


def _is_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def _text(value: object) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


_NOT_FOUND = re.compile(r"not\s*found|no\s+such|does\s+not\s+exist|unknown\s+(esim|sim|iccid)", re.IGNORECASE)


def check_answer(
    body: Any, path: str, *, not_found_on_false: bool = False, require_status: bool = False
) -> dict[str, Any]:
    """The one check every eSIMCard answer goes through (providers.md §4.1).

    eSIMCard refuses business requests with HTTP 200 `{"status": false, "message": ...}`. On a
    per-eSIM read whose message says the eSIM does not exist that is ProviderNotFound; any other
    refusal (e.g. "Service temporarily unavailable") is ProviderRejected, so a passing failure is never
    taken for "this eSIM is not here" (which would forget where the eSIM lives).
    `require_status` is for top-ups, where only an explicit `status: true` proves success.
    """
    if not isinstance(body, dict):
        raise ProviderResponseInvalid(ESIMCARD, f"{path} did not answer with a JSON object")
    status = body.get("status")
    if _is_false(status):
        message = (_text(body.get("message")) or "request refused")[:_MAX_MESSAGE]
        error = ProviderNotFound if not_found_on_false and _NOT_FOUND.search(message) else ProviderRejected
        raise error(ESIMCARD, f"{message} on {path}", status_code=200)
    if require_status and not _is_true(status):
        raise ProviderResponseInvalid(ESIMCARD, f"{path} answered without a status; outcome unknown")
    return body


def data_dict(body: Mapping[str, Any], path: str) -> dict[str, Any]:
    data = body.get("data")
    if not isinstance(data, dict):
        raise ProviderResponseInvalid(ESIMCARD, f"{path} answered without a data object")
    return data


def binary_bytes(value: object, unit: object) -> int | None:
    """Bytes for an eSIMCard quantity: binary units, snapped to the decimal plan size it rounds from."""
    exact = quantity_to_bytes(value, unit, binary=True)
    if exact is None:
        return None
    # Unverified: a missing unit is read as GB by quantity_to_bytes (every spec example has one).
    # A recording settles it: GET /my-esims/{id} and GET /my-sim/{id}/usage of an eSIM in use.
    unit_name = str(unit or "GB").strip().upper()
    step = _DECIMAL_STEP.get(unit_name)
    if step is None:
        return exact
    tolerance = quantity_to_bytes(1, unit_name, binary=True) / (2 * 10**_SHOWN_DECIMALS)
    nearest = round(exact / step) * step
    return nearest if abs(nearest - exact) <= tolerance else exact


def parse_usage(item: Mapping[str, Any]) -> Usage | None:
    """Usage from `initial_data_*` / `rem_data_*`, each quantity converted with its OWN unit
    (the original labelled both with `rem_data_unit`). "Unlimited" quantities are strings."""
    initial, remaining = item.get("initial_data_quantity"), item.get("rem_data_quantity")
    if _is_true(item.get("unlimited")) or is_unlimited(initial) or is_unlimited(remaining):
        return Usage(unlimited=True)
    capacity = binary_bytes(initial, item.get("initial_data_unit"))
    left = binary_bytes(remaining, item.get("rem_data_unit"))
    if capacity is None and left is None:
        return None
    consumed = max(capacity - left, 0) if capacity is not None and left is not None else None
    return Usage(capacity_bytes=capacity, consumed_bytes=consumed, remaining_bytes=left)


def days_in_name(name: object) -> int | None:
    match = _DAYS_IN_NAME.search(str(name or ""))
    return int(match.group(1)) if match else None


def _days_between(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end <= start:
        return None
    return round((end - start).total_seconds() / 86400)


def parse_package(item: Mapping[str, Any], bucket_state: StatusCode) -> BundleState:
    name = _text(item.get("package")) or ""
    raw_state = _text(item.get("status")) or ""
    state = bundle_state_code(raw_state)
    if state is StatusCode.UNKNOWN:
        state = bucket_state  # the bucket says what the package's own status did not
    # Unverified: `date_*` are "YYYY-MM-DD HH:MM:SS" without a zone; parse_datetime reads them as UTC.
    # A recording of GET /my-esims/{id} shows the format; the portal's times for it show the zone.
    started = parse_datetime(item.get("date_activated"))
    expires = parse_datetime(item.get("date_expiry"))
    return BundleState(
        name=name,
        description=name,
        state=state,
        raw_state=raw_state,
        usage=parse_usage(item),
        assigned_at=parse_datetime(item.get("date_created")),
        started_at=started,
        expires_at=expires,
        duration_days=_days_between(started, expires) or days_in_name(name),
    )


def packages_by_bucket(data: Mapping[str, Any]) -> Iterable[tuple[str, StatusCode, dict[str, Any]]]:
    """Every package dict of the detail answer with its bucket; absent buckets are normal."""
    for bucket, state in BUCKETS:
        items = data.get(f"{bucket}_packages")
        if items is None:
            continue
        if not isinstance(items, list):
            logger.warning("esimcard %s_packages is not a list; ignored", bucket)
            continue
        for item in items:
            if isinstance(item, dict):
                yield bucket, state, item


def activation_fields(*sources: Mapping[str, Any]) -> tuple[str | None, str | None, str | None]:
    """(LPA string, SM-DP+ address, matching id) from the first source that carries one.

    Unverified shapes (providers.md §4.3): an LPA string under one of `_ACTIVATION_KEYS`; a bare
    matching id in `activation_code` next to `smdp_address` (3P myumrahesim); or the `carddata`
    parameter of `universal_link` (3P). A `qr_code` that is an image URL is not an LPA and is skipped.
    A recording settles it: GET /my-esims and GET /my-esims/{id}.
    """
    for source in sources:
        for key in _ACTIVATION_KEYS:
            lpa = _lpa_parts(_text(source.get(key)))
            if lpa:
                return lpa
        smdp, code = _text(source.get("smdp_address")), _text(source.get("activation_code"))
        if smdp and code and "$" not in code:
            return f"LPA:1${smdp}${code}", smdp, code
        lpa = _lpa_parts(_carddata(_text(source.get("universal_link"))))
        if lpa:
            return lpa
    return None, None, None


def _carddata(link: str | None) -> str | None:
    if not link:
        return None
    values = parse_qs(urlsplit(link).query).get("carddata")  # parse_qs also URL-decodes
    return values[0] if values else None


def _lpa_parts(value: str | None) -> tuple[str, str | None, str | None] | None:
    if not value or not value.upper().startswith("LPA:"):
        return None
    parts = value.split("$")
    smdp = parts[1] if len(parts) > 1 and parts[1] else None
    matching = parts[2] if len(parts) > 2 and parts[2] else None
    return value, smdp, matching


def plan_country(*names: str | None) -> str | None:
    """The one country the first telling package name covers: "eSIM, 1GB, 7 Days, France, Unthrottled"
    -> FR. eSIMCard's eSIM answers carry no country field (providers.md §4.3), but its package names
    do, as renewal options read them. A regional or multi-country plan names no single country: None."""
    for name in names:
        spec = parse_plan_name(name)
        if spec.countries or spec.region:
            return spec.countries[0] if len(spec.countries) == 1 and not spec.region else None
    return None


def build_record(
    *,
    iccid: str,
    uuid: str,
    data: Mapping[str, Any],
    usage_data: Mapping[str, Any] | None,
    created_at: str | None,
    now: datetime,
) -> EsimRecord:
    """The EsimRecord from GET /my-esims/{uuid} (+ GET /my-sim/{uuid}/usage when it answered)."""
    sim = data.get("sim")
    if not isinstance(sim, dict):
        raise ProviderResponseInvalid(ESIMCARD, "eSIM details answered without a sim object")
    pairs = [(parse_package(item, state), item) for _, state, item in packages_by_bucket(data)]
    bundles = tuple(bundle for bundle, _ in pairs)
    current = current_bundle(bundles, now)
    raw_current = next((item for bundle, item in pairs if bundle is current), {})
    plan_name = (current.name if current else None) or _text(sim.get("last_bundle"))
    usage = parse_usage(usage_data) if usage_data else None
    if usage is None and current is not None:
        usage = current.usage
    activation_code, smdp, matching = activation_fields(sim, data)
    return EsimRecord(
        provider=ESIMCARD,
        iccid=iccid,
        reference=uuid,
        status=derive_status(bundles, sim.get("status"), now),
        profile_status=_text(sim.get("status")),
        plan_name=plan_name,
        plan_code=_text(raw_current.get("package_type_id")),
        order_id=uuid,
        usage=usage,
        bundles=bundles,
        purchased_at=parse_datetime(created_at or sim.get("created_at")),
        installed_at=parse_datetime(sim.get("installed_at")),  # 3P list field; unverified on details
        started_at=current.started_at if current else None,
        expires_at=current.expires_at if current else None,
        validity_days=(current.duration_days if current else None) or days_in_name(plan_name),
        smdp_address=smdp,
        matching_id=matching,
        activation_code=activation_code,
        # Unverified: the original reads sim.apn; the spec has none. A recording of GET /my-esims/{id} settles it.
        apn=_text(sim.get("apn")),
        country_code=plan_country(plan_name, _text(sim.get("last_bundle"))),
    )


def sim_iccid(data: Mapping[str, Any]) -> str | None:
    sim = data.get("sim")
    value = sim.get("iccid") if isinstance(sim, dict) else None
    return normalize_iccid(value) or None


def _duration_days(item: Mapping[str, Any]) -> int | None:
    number = to_decimal(item.get("package_validity"))
    if number is None or number <= 0:
        return None
    unit = str(item.get("package_validity_unit") or "Day").strip().lower()
    # The spec only shows "Day"; "Month" is read as 30 days (how resellers sell a "1 month" plan).
    per_unit = _VALIDITY_UNIT_DAYS.get(unit)
    return int(number * per_unit) if per_unit else None


def catalogue_bundle(
    item: Mapping[str, Any], countries: tuple[str, ...], currency: str
) -> CatalogBundle | None:
    """One /packages or /pricing item; None (logged) when it has no id, name or numeric price."""
    package_id, name = _text(item.get("id")), _text(item.get("name"))
    cost = to_decimal(item.get("price"))  # a string such as "3.61" in the spec
    if not package_id or not name or cost is None or cost < 0:
        logger.warning("esimcard catalogue item %s skipped: no id, name or price", package_id or "?")
        return None
    quantity = item.get("data_quantity")
    unlimited = _is_true(item.get("unlimited")) or is_unlimited(quantity)
    # Unverified: catalogue packages are read as their nominal (decimal) size — a package sold as
    # "1GB" is a 10**9-byte plan — while per-eSIM usage figures are binary (see binary_bytes).
    # A recording settles it: GET /packages and GET /pricing (the catalogue step).
    data_bytes = None if unlimited else quantity_to_bytes(quantity, item.get("data_unit") or "GB")
    return CatalogBundle(
        provider=ESIMCARD,
        code=package_id,
        description=name,
        cost=cost,
        currency=currency,
        countries=countries,
        data_bytes=data_bytes,
        unlimited=unlimited,
        duration_days=_duration_days(item),
        package_id=package_id,
    )


def pricing_packages(data: Mapping[str, Any]) -> tuple[dict[str, set[str]], list[dict[str, Any]]]:
    """From /pricing `data.countries[{name, code, packages[]}]`: package id -> upper-case country
    codes, and the package items in the order they appear."""
    countries_of: dict[str, set[str]] = {}
    items: list[dict[str, Any]] = []
    countries = data.get("countries")
    for country in countries if isinstance(countries, list) else ():
        if not isinstance(country, dict):
            continue
        code = (_text(country.get("code")) or "").upper()
        packages = country.get("packages")
        for item in packages if isinstance(packages, list) else ():
            package_id = _text(item.get("id")) if isinstance(item, dict) else None
            if package_id is None:
                continue
            if package_id not in countries_of:
                countries_of[package_id] = set()
                items.append(item)
            if code:
                countries_of[package_id].add(code)
    return countries_of, items


def purchase_result(body: Mapping[str, Any], request: TopUpRequest) -> TopUpResult:
    """POST /package/purchase after `status: true` was checked (providers.md §4.3).

    `sim_applied: true` -> done; `false` -> bought (already charged) but not yet on the eSIM.
    """
    data = body.get("data") if isinstance(body.get("data"), dict) else {}
    sim = data.get("sim") if isinstance(data.get("sim"), dict) else {}
    order_id = _text(data.get("order_id"))
    sim_id = _text(sim.get("id")) or _text(data.get("sim_id")) or request.esim_reference
    reference = order_id or f"{sim_id}:{request.order_reference}"
    applied = data.get("sim_applied")
    if _is_true(applied):
        return TopUpResult(provider=ESIMCARD, reference=reference, state=TopUpState.COMPLETED)
    message = _text(data.get("message")) or _text(body.get("message")) or ""
    if not _is_false(applied):
        # status:true proves the purchase; without sim_applied we cannot say it is on the eSIM yet.
        message = message or "purchase accepted; provider did not say whether it was applied"
    return TopUpResult(
        provider=ESIMCARD, reference=reference, state=TopUpState.PENDING, message=message[:_MAX_MESSAGE]
    )


def matching_top_up(data: Mapping[str, Any], request: TopUpRequest, since: datetime) -> TopUpResult | None:
    """An assigned or in-use package of the requested type that appeared at/after `since`."""
    for bucket, _, item in packages_by_bucket(data):
        if bucket not in ("in_use", "assigned"):
            continue
        if _text(item.get("package_type_id")) != request.package_id:
            continue
        activated = parse_datetime(item.get("date_activated"))
        created = parse_datetime(item.get("date_created"))  # 3P /my-bundles field; absent in the spec
        if (activated is not None and activated < since) or (created is not None and created < since):
            continue
        reference = _text(item.get("id")) or f"{request.esim_reference}:{request.order_reference}"
        return TopUpResult(provider=ESIMCARD, reference=reference, message=f"{bucket} package")
    return None
