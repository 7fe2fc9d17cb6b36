"""State records of the simulated provider accounts, each able to render itself in the provider's JSON shape.

Quantities are kept in bytes internally and converted at render time with each provider's own unit rules:
AirHub = decimal GB strings, eSIMCard = *binary* GB/MB numbers (1e9 bytes -> 0.9313 "GB"),
TravelRoam (eSIM Go) = decimal bytes in usage and MB in the catalogue (providers.md §2.3, §3.2, §4.3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

GB = 1_000_000_000
MB = 1_000_000


def fmt_space(moment: datetime | None) -> str | None:
    """``YYYY-MM-DD HH:MM:SS`` (UTC, no zone): AirHub purchaseDate and eSIMCard package dates."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else None


def fmt_rfc3339(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with ``Z`` and whole seconds, as eSIM Go renders bundle times."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def fmt_micro_z(moment: datetime) -> str:
    """Laravel's ISO 8601 with microseconds and ``Z`` (eSIMCard ``created_at``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def binary_quantity(num_bytes: int, unit: str) -> float:
    """eSIMCard's figures: GiB/MiB labelled "GB"/"MB", rounded to 4 decimals (10^9 bytes -> 0.9313 GB)."""
    divisor = 2**30 if unit == "GB" else 2**20
    return round(num_bytes / divisor, 4)


def decimal_gb(num_bytes: int) -> str:
    """AirHub-style decimal GB string without trailing zeros ("1.25", "3")."""
    text = f"{num_bytes / GB:.2f}".rstrip("0").rstrip(".")
    return text or "0"


# --- AirHub -------------------------------------------------------------------------------------------


@dataclass
class AirHubPlan:
    plan_code: str
    plan_name: str
    country_code: str
    country_name: str
    capacity_gb: int
    validity_days: int
    price: str

    def to_json(self) -> dict[str, Any]:
        return {
            "planCode": self.plan_code,
            "planName": self.plan_name,
            "countryCode": self.country_code,
            "countryName": self.country_name,
            "capacity": str(self.capacity_gb),
            "capacityUnit": "GB",
            "validity": str(self.validity_days),
            "price": self.price,
            "currency": "USD",
        }


@dataclass
class AirHubOrder:
    order_id: str
    iccid: str
    plan: AirHubPlan
    purchased_at: datetime
    is_active: bool
    consumed_bytes: int | None  # None: AirHub shows "" (inactive, or usage lives at the wholesaler)
    matching_id: str
    smdp: str = "rsp.airhub-sandbox.invalid"
    apn: str = "internet"
    validity_days: int = 0

    def __post_init__(self) -> None:
        self.validity_days = self.validity_days or self.plan.validity_days

    def to_json(self) -> dict[str, Any]:
        capacity = self.plan.capacity_gb * GB
        consumed = "" if self.consumed_bytes is None else decimal_gb(self.consumed_bytes)
        remaining = "" if self.consumed_bytes is None else decimal_gb(max(capacity - self.consumed_bytes, 0))
        return {
            "orderId": self.order_id,
            "simID": self.iccid,
            "planName": self.plan.plan_name,
            "isActive": self.is_active,
            "purchaseDate": fmt_space(self.purchased_at),
            "vaildity": str(self.validity_days),  # sic: AirHub's misspelled key
            "capacity": str(self.plan.capacity_gb),
            "capacityUnit": "GB",
            "dataConsumed": consumed,
            "dataRemaining": remaining,
            "planCode": self.plan.plan_code,
            "countryCode": self.plan.country_code,
        }

    def activation_json(self) -> dict[str, Any]:
        return {
            "orderId": self.order_id,
            "activationCode": f"LPA:1${self.smdp}${self.matching_id}",
            "apn": self.apn,
        }


@dataclass
class AirHubRenewal:
    renew_id: str
    order_id: str
    iccid: str
    user_amount: str
    renewal_days: int
    plan_code: str
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "renewId": self.renew_id,
            "orderId": self.order_id,
            "simID": self.iccid,
            "userAmount": self.user_amount,
            "renewalDays": self.renewal_days,
            "planCode": self.plan_code,
            "status": "Success",
            "createdDate": fmt_space(self.created_at),
        }


# --- eSIMCard -----------------------------------------------------------------------------------------


@dataclass
class CardPackageType:
    """A catalogue entry; its ``id`` is the ``package_type_id`` sent to /package/purchase."""

    id: str
    name: str
    price: str
    data_bytes: int | None  # None = unlimited
    data_unit: str
    validity_days: int
    country_code: str
    country_name: str

    def to_json(self) -> dict[str, Any]:
        unlimited = self.data_bytes is None
        nominal = "Unlimited" if unlimited else self.data_bytes // (GB if self.data_unit == "GB" else MB)
        return {
            "id": self.id,
            "name": self.name,
            "price": self.price,
            "data_quantity": nominal,
            "data_unit": self.data_unit,
            "voice_quantity": 0,
            "voice_unit": "Min",
            "sms_quantity": 0,
            "package_validity": self.validity_days,
            "package_validity_unit": "Day",
            "package_type": "DATA-ONLY",
            "unlimited": unlimited,
        }


# Bucket of /my-esims/{id} -> the package status shown inside it (providers.md §4.3, 3P palop-roam-connect).
BUCKET_STATUS = {"in_use": "Active", "assigned": "Assigned", "completed": "Completed", "revoked": "Revoked"}


@dataclass
class CardPackage:
    id: str
    package_type_id: str
    name: str
    initial_bytes: int | None  # None = unlimited
    remaining_bytes: int | None
    data_unit: str
    created_at: datetime
    activated_at: datetime | None
    expires_at: datetime | None
    bucket: str = "in_use"

    def quantities(self) -> dict[str, Any]:
        if self.initial_bytes is None:
            # The spec says unlimited packages report the string "Unlimited" for both quantities.
            return {
                "initial_data_quantity": "Unlimited",
                "initial_data_unit": self.data_unit,
                "rem_data_quantity": "Unlimited",
                "rem_data_unit": self.data_unit,
            }
        return {
            "initial_data_quantity": binary_quantity(self.initial_bytes, self.data_unit),
            "initial_data_unit": self.data_unit,
            "rem_data_quantity": binary_quantity(self.remaining_bytes or 0, self.data_unit),
            "rem_data_unit": self.data_unit,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "package": self.name,
            "package_type_id": self.package_type_id,
            **self.quantities(),
            "date_activated": fmt_space(self.activated_at),
            "date_expiry": fmt_space(self.expires_at),
            "unlimited": self.initial_bytes is None,
            "status": BUCKET_STATUS[self.bucket],
        }

    def bundle_json(self) -> dict[str, Any]:
        """/my-bundles item: the spec has no iccid here (providers.md §4.3)."""
        return {
            "id": self.id,
            "package": self.name,
            **self.quantities(),
            "date_created": fmt_space(self.created_at),
            "date_activated": fmt_space(self.activated_at),
            "date_expiry": fmt_space(self.expires_at),
            "activated": self.activated_at is not None,
            "status": BUCKET_STATUS[self.bucket],
        }


@dataclass
class CardSim:
    id: str
    iccid: str
    created_at: datetime
    status: str
    matching_id: str
    packages: list[CardPackage] = field(default_factory=list)
    smdp: str = "smdp.esimcard-sandbox.invalid"

    def lpa(self) -> str:
        return f"LPA:1${self.smdp}${self.matching_id}"

    def list_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "iccid": self.iccid,
            "created_at": fmt_micro_z(self.created_at),
            "last_bundle": self.packages[-1].name if self.packages else None,
            "status": self.status,
            "total_bundles": len(self.packages),
            "universal_link": f"https://esimsetup.apple.com/esim_qrcode_provisioning?carddata={self.lpa()}",
        }

    def detail_json(self) -> dict[str, Any]:
        buckets: dict[str, list[dict[str, Any]]] = {name: [] for name in BUCKET_STATUS}
        for package in self.packages:
            buckets[package.bucket].append(package.to_json())
        return {
            "sim": self.list_json(),
            **{f"{name}_packages": items for name, items in buckets.items()},
        }
