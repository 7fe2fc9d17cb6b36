"""Parsing TravelRoam (eSIM Go white label) bodies into our dataclasses (providers.md §3.2).

Pure functions, no HTTP: the client in `providers.travelroam` fetches, this module interprets.
Quantities in eSIM Go bodies are DECIMAL units (usage in bytes, catalogue `dataAmount` in MB), so a
1 GB bundle is 10**9 bytes; the original divided by 1024**3 and showed 0.93 GB (providers.md §8 item 13).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from providers.base import TRAVELROAM, BundleState, CatalogBundle, TopUpResult, TopUpState, Usage
from providers.errors import ProviderRejected, ProviderResponseInvalid
from providers.iccid import normalize_iccid
from providers.status import bundle_state_code
from providers.units import parse_datetime, parse_days, quantity_to_bytes, to_decimal

logger = logging.getLogger(__name__)

_NAME_DAYS = re.compile(r"_(\d+)D_", re.IGNORECASE)  # esim_1GB_7D_TR_V2 -> 7
_DESCRIPTION_DAYS = re.compile(r"(\d+)\s*Days?\b", re.IGNORECASE)  # "eSIM, 1GB, 7 Days, Turkey, V2"
_ISO_SEGMENT = re.compile(r"^[A-Z]{2}$")
_MAX_MESSAGE = 200

# Order statuses by analogy with eSIM Go's OrderResponseTransaction (unverified for TravelRoam).
_ORDER_DONE = {"completed", "complete", "success", "successful"}
_ORDER_PENDING = {"processing", "pending", "queued", "in progress", "inprogress"}
_ORDER_FAILED = {"failed", "failure", "error", "cancelled", "canceled", "rejected", "declined"}
_ORDER_REFERENCE_KEYS = ("orderReference", "reference", "orderId", "order_reference")


@dataclass(frozen=True)
class Details:
    """`POST /esims/details`; `matching_id` is the secret half of the LPA string."""

    iccid: str
    matching_id: str | None
    smdp_address: str | None
    profile_status: str | None
    installed_at: datetime | None

    @property
    def activation_code(self) -> str | None:
        if not (self.smdp_address and self.matching_id):
            return None
        return f"LPA:1${self.smdp_address}${self.matching_id}"


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text or None


def _invalid(message: str) -> ProviderResponseInvalid:
    return ProviderResponseInvalid(TRAVELROAM, message)


def parse_details(body: Any) -> Details:
    if not isinstance(body, dict):
        raise _invalid("esims/details answered with a body that is not an object")
    return Details(
        iccid=normalize_iccid(body.get("iccid")),
        matching_id=_text(body.get("matchingId")),
        smdp_address=_text(body.get("smdpAddress")),
        profile_status=_text(body.get("profileStatus")),
        # eSIM Go v2.4+ sends ms since the epoch; v2.2 typed it as a date-time string. Both parse.
        installed_at=parse_datetime(body.get("firstInstalledDateTime")),
    )


# --- applied bundles -------------------------------------------------------------------------------


def iter_assignments(body: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(bundle, assignment) pairs over EVERY bundle (the original only looked at `bundles[0]`)."""
    if not isinstance(body, dict) or not isinstance(body.get("bundles"), list):
        raise _invalid("esims/applied/bundles answered without a `bundles` list")
    for bundle in body["bundles"]:
        if not isinstance(bundle, dict):
            continue
        for assignment in bundle.get("assignments") or ():
            if isinstance(assignment, dict):
                yield bundle, assignment


def _is_data(assignment: dict[str, Any]) -> bool:
    # A missing callTypeGroup is taken as data: data-only bundles are all we sell.
    return str(assignment.get("callTypeGroup") or "data").strip().lower() == "data"


def duration_from(name: str, description: str) -> int | None:
    match = _NAME_DAYS.search(name) or _DESCRIPTION_DAYS.search(description)
    return int(match.group(1)) if match else None


def country_from_code(name: str | None) -> str | None:
    """The ISO segment of an eSIM Go bundle code: `esim_1GB_7D_TR_V2` -> TR (V2/U are not countries)."""
    for segment in (name or "").split("_")[1:]:
        if _ISO_SEGMENT.match(segment):
            return segment
    return None


def _usage(assignment: dict[str, Any]) -> Usage:
    # Unlimited bundles report initialQuantity 0; the original skipped them, we keep them.
    if assignment.get("unlimited") is True:
        return Usage(unlimited=True)
    capacity = quantity_to_bytes(assignment.get("initialQuantity"), "B")
    remaining = quantity_to_bytes(assignment.get("remainingQuantity"), "B")
    consumed = max(capacity - remaining, 0) if capacity is not None and remaining is not None else None
    return Usage(capacity_bytes=capacity, consumed_bytes=consumed, remaining_bytes=remaining)


def _bundle_state(bundle: dict[str, Any], assignment: dict[str, Any]) -> BundleState:
    name = _text(bundle.get("name")) or ""
    description = _text(bundle.get("description")) or ""
    raw_state = _text(assignment.get("bundleState")) or ""
    return BundleState(
        name=name,
        description=description,
        state=bundle_state_code(raw_state),
        raw_state=raw_state,
        usage=_usage(assignment),
        assigned_at=parse_datetime(assignment.get("assignmentDateTime")),
        # Absent until the bundle starts (eSIM Go v2.3), so a queued bundle has neither.
        started_at=parse_datetime(assignment.get("startTime")),
        expires_at=parse_datetime(assignment.get("endTime")),
        duration_days=duration_from(name, description),
    )


def parse_applied_bundles(body: Any) -> tuple[BundleState, ...]:
    """One BundleState per data assignment, in the provider's order."""
    return tuple(_bundle_state(b, a) for b, a in iter_assignments(body) if _is_data(a))


# --- location --------------------------------------------------------------------------------------


def parse_location(body: Any) -> tuple[str | None, str | None]:
    """(ISO2 country, "<operator> (<country>)") from `POST /esims/location`; (None, None) if empty."""
    if not isinstance(body, dict):
        return None, None
    country = (_text(body.get("country")) or "").upper()
    country = country if _ISO_SEGMENT.match(country) else None
    operator = _text(body.get("networkName")) or _text(body.get("networkBrandName"))
    if operator is None:
        return country, None
    return country, f"{operator} ({country})" if country else operator


# --- catalogue -------------------------------------------------------------------------------------


def catalogue_page(body: Any) -> tuple[list[Any], int]:
    """(items, page count). eSIM Go pages with `pageCount`; `pages`/`lastPage` are accepted too.

    Unverified: TravelRoam's original caller read `bundles` and sent no pagination, so a missing
    count is taken as a single page, and a bare list (no envelope) is accepted as the bundles.
    A recording settles it: POST /catalogue (the probe and the catalogue step).
    """
    if isinstance(body, list):
        return body, 1
    if not isinstance(body, dict) or not isinstance(body.get("bundles"), list):
        raise _invalid("catalogue answered without a `bundles` list")
    for key in ("pageCount", "pages", "lastPage"):
        count = to_decimal(body.get(key))
        if count is not None:
            return body["bundles"], max(int(count), 1)
    return body["bundles"], 1


def _isos(*groups: Any) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for group in groups:
        for country in group if isinstance(group, list) else ():
            iso = _text(country.get("iso")) if isinstance(country, dict) else None
            if iso:
                seen.setdefault(iso.upper(), None)
    return tuple(seen)


def _region(countries: Any) -> str | None:
    if isinstance(countries, list) and countries and isinstance(countries[0], dict):
        return _text(countries[0].get("region"))
    return None


def parse_catalog_bundle(item: Any, currency: str) -> CatalogBundle | None:
    """A catalogue bundle; None (logged) when it cannot be sold: no code or no price."""
    if not isinstance(item, dict):
        logger.warning("travelroam catalogue item is not an object; skipped")
        return None
    name = _text(item.get("name"))
    price = to_decimal(item.get("price"))  # str(float) first, so 1.23 stays Decimal("1.23")
    if name is None or price is None:
        logger.warning("travelroam catalogue bundle %s has no %s; skipped", name, "price" if name else "name")
        return None
    unlimited = item.get("unlimited") is True
    return CatalogBundle(
        provider=TRAVELROAM,
        code=name,  # case-sensitive: exactly what processorders expects
        description=_text(item.get("description")) or "",
        cost=Decimal(price),
        currency=currency,  # eSIM Go prices are in the account currency; no per-bundle field
        countries=_isos(item.get("countries"), item.get("roamingEnabled")),
        region=_region(item.get("countries")),
        data_bytes=None if unlimited else quantity_to_bytes(item.get("dataAmount"), "MB"),
        unlimited=unlimited,
        duration_days=parse_days(item.get("duration")),
        package_id=None,
    )


# --- orders ----------------------------------------------------------------------------------------


def _order_reference(body: dict[str, Any]) -> str | None:
    for key in _ORDER_REFERENCE_KEYS:
        value = body.get(key)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None


def parse_order(body: Any) -> TopUpResult:
    """Prove the outcome of `POST /processorders` from its body.

    Unverified: the response shape is unknown (the original never read it). By analogy with eSIM Go's
    order response we expect `orderReference`, `status`, `statusMessage`, `assigned`. A body that
    proves neither success nor failure raises ProviderResponseInvalid: the outcome is unknown.
    No recording can settle it (a paid call, never recorded): the first real top-up's answer will.
    """
    if not isinstance(body, dict):
        raise _invalid("processorders answered with a body that is not an object")
    raw_status = body.get("status")
    status = str(raw_status).strip().lower() if isinstance(raw_status, str) else ""
    message = (_text(body.get("statusMessage")) or _text(body.get("message")) or "")[:_MAX_MESSAGE]
    if status in _ORDER_FAILED or raw_status is False:
        raise ProviderRejected(TRAVELROAM, f"order {status or 'failed'}: {message or 'no message'}")
    reference = _order_reference(body)
    if status in _ORDER_DONE or body.get("assigned") is True:
        state = TopUpState.COMPLETED
    elif status in _ORDER_PENDING:
        state = TopUpState.PENDING
    else:
        raise _invalid(f"processorders answered with an unrecognised status {status[:40]!r}")
    if reference is None:
        raise _invalid("processorders answered without an order reference")
    return TopUpResult(provider=TRAVELROAM, reference=reference, state=state, message=message)


def parse_assignments(body: Any) -> list[dict[str, str | None]]:
    """`GET /getesimassignments` rows as {iccid, profile_status}; matching ids are dropped on purpose.

    Unverified: eSIM Go's JSON variant is a list of per-eSIM objects; an envelope (`esims`,
    `assignments`, `data`) or a single object is accepted too. A recording settles it:
    `provider_smoke --record DIR --order-reference REF` reads GET /getesimassignments.
    """
    rows: Any = body
    if isinstance(body, dict):
        rows = next(
            (body[k] for k in ("esims", "assignments", "data") if isinstance(body.get(k), list)), [body]
        )
    if not isinstance(rows, list):
        raise _invalid("getesimassignments answered with neither a list nor an object")
    return [
        {"iccid": normalize_iccid(row.get("iccid")), "profile_status": _text(row.get("profileStatus"))}
        for row in rows
        if isinstance(row, dict) and _text(row.get("iccid"))
    ]
