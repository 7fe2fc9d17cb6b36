"""TravelRoam (eSIM Go white-label) state records rendered in eSIM Go v2 shapes (providers.md §3.2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from providers.sandbox.models import MB, fmt_rfc3339


@dataclass(frozen=True)
class Country:
    name: str
    region: str
    iso: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "region": self.region, "iso": self.iso}


@dataclass
class TrBundle:
    """A catalogue bundle. ``data_mb`` is in MB (1000 = 1 GB) as eSIM Go's ``dataAmount``; 0 when unlimited."""

    name: str
    description: str
    countries: list[Country]
    data_mb: int
    duration: int
    price: float
    unlimited: bool = False
    groups: list[str] = field(default_factory=lambda: ["Standard Fixed"])

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "groups": list(self.groups),
            "countries": [country.to_json() for country in self.countries],
            "roamingEnabled": [],
            "dataAmount": self.data_mb,
            "duration": self.duration,
            "speed": ["4G", "5G"],
            "autostart": True,
            "unlimited": self.unlimited,
            "price": self.price,
            # eSIM Go does not document the values; "FixedCost" is the most plausible.
            "billingType": "FixedCost",
        }

    @property
    def data_bytes(self) -> int:
        return self.data_mb * MB


@dataclass
class TrAssignment:
    """One bundle applied to an eSIM. ``start_at``/``end_at`` stay None while queued (eSIM Go omits them)."""

    id: str
    reference: str
    bundle_name: str
    description: str
    initial_bytes: int
    remaining_bytes: int
    assigned_at: datetime
    start_at: datetime | None
    end_at: datetime | None
    state: str
    unlimited: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "assignmentReference": self.reference,
            "callTypeGroup": "data",
            "initialQuantity": self.initial_bytes,
            "remainingQuantity": self.remaining_bytes,
            "assignmentDateTime": fmt_rfc3339(self.assigned_at),
        }
        if self.start_at is not None:
            data["startTime"] = fmt_rfc3339(self.start_at)
        if self.end_at is not None:
            data["endTime"] = fmt_rfc3339(self.end_at)
        data["bundleState"] = self.state
        data["unlimited"] = self.unlimited
        return data


@dataclass
class TrEsim:
    iccid: str
    matching_id: str
    profile_status: str
    first_installed_ms: int | None = None
    smdp: str = "rsp-3104.idemia.io"
    location: dict[str, str] | None = None
    assignments: list[TrAssignment] = field(default_factory=list)  # oldest first

    def details_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "iccid": self.iccid,
            "matchingId": self.matching_id,
            "smdpAddress": self.smdp,
            "profileStatus": self.profile_status,
            "pin": "0000",
            "puk": "00000000",
        }
        if self.first_installed_ms is not None:
            data["firstInstalledDateTime"] = self.first_installed_ms
        return data

    def bundles_json(self) -> dict[str, Any]:
        """Assignments grouped by bundle, most recent first (eSIM Go lists the 15 most recent)."""
        groups: dict[str, dict[str, Any]] = {}
        for assignment in reversed(self.assignments[-15:]):
            group = groups.setdefault(
                assignment.bundle_name,
                {"name": assignment.bundle_name, "description": assignment.description, "assignments": []},
            )
            group["assignments"].append(assignment.to_json())
        return {"bundles": list(groups.values())}

    def assignment_json(self) -> dict[str, Any]:
        """One row of /getesimassignments (eSIM Go's JSON variant of /esims/assignments)."""
        return {
            "iccid": self.iccid,
            "matchingId": self.matching_id,
            "smdpAddress": self.smdp,
            "profileStatus": self.profile_status,
        }


@dataclass
class TrOrder:
    reference: str
    bundle: TrBundle
    iccids: list[str]
    created_at: datetime
